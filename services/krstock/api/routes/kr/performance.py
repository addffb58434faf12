"""/api/kr performance routes: strategy reports and the cumulative return of VCP signals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from krstock.api.deps import READ_ACCESS, SessionDep, StateDep
from krstock.api.services import performance as reports
from krstock.api.services.clock import today_kst

router = APIRouter()
INCLUDE_FLAGGED = Query(
    default=False,
    description="count imported rows flagged as impossible (left out by default)",
)


@router.get(
    "/cumulative-return", dependencies=[READ_ACCESS], summary="Returns of open and closed VCP"
)
def cumulative_return(
    state: StateDep, session: SessionDep, include_flagged: bool = INCLUDE_FLAGGED
) -> Any:
    return reports.cumulative_return(state, session, today_kst(), include_flagged)


@router.get(
    "/performance", dependencies=[READ_ACCESS], summary="Strategy performance reports (§3.5)"
)
def performance(session: SessionDep, include_flagged: bool = INCLUDE_FLAGGED) -> dict[str, Any]:
    return reports.legacy_performance(session, include_flagged)
