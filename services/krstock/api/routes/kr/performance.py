"""/api/kr performance routes: strategy reports and the cumulative return of VCP signals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from krstock.api.deps import READ_ACCESS, SessionDep, StateDep
from krstock.api.services import performance as reports
from krstock.api.services.clock import today_kst

router = APIRouter()


@router.get(
    "/cumulative-return", dependencies=[READ_ACCESS], summary="Returns of open and closed VCP"
)
def cumulative_return(state: StateDep, session: SessionDep) -> Any:
    return reports.cumulative_return(state, session, today_kst())


@router.get(
    "/performance", dependencies=[READ_ACCESS], summary="Strategy performance reports (§3.5)"
)
def performance(session: SessionDep) -> dict[str, Any]:
    return reports.legacy_performance(session)
