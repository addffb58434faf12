"""/api/kr/backtest-summary: the VCP and closing-bet cards of the monolith's dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from krstock.api.deps import READ_ACCESS, SessionDep
from krstock.api.services.clock import today_kst
from krstock.api.services.performance import backtest_summary

router = APIRouter()


@router.get("/kr/backtest-summary", dependencies=[READ_ACCESS], summary="VCP and closing-bet cards")
def backtest(
    session: SessionDep,
    include_flagged: bool = Query(
        default=False,
        description="count imported rows flagged as impossible (left out by default)",
    ),
) -> dict[str, Any]:
    return backtest_summary(session, today_kst(), include_flagged)
