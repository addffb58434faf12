"""/api/portfolio routes: the open VCP positions in the old portfolio shapes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from krstock.api.deps import READ_ACCESS, SessionDep, StateDep
from krstock.api.services import portfolio as views
from krstock.api.services.clock import today_kst

router = APIRouter()


@router.get("/portfolio-summary", dependencies=[READ_ACCESS], summary="Counts per market")
def portfolio_summary(session: SessionDep) -> dict[str, Any]:
    return views.portfolio_summary(session)


@router.get("/portfolio", dependencies=[READ_ACCESS], summary="Open VCP positions as a portfolio")
def portfolio(state: StateDep, session: SessionDep) -> dict[str, Any]:
    return views.portfolio(state, session, today_kst())
