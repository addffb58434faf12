"""/api/kr/backtest-summary: the VCP and closing-bet cards of the monolith's dashboard, each
saying what it is (``basis``: tracked trades, or the monolith's closing-bet heuristic with the
tracked figures beside it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from krstock.api.deps import READ_ACCESS, SessionDep
from krstock.api.services.backtest_summary import backtest_summary
from krstock.api.services.clock import today_kst

router = APIRouter()


@router.get(
    "/kr/backtest-summary",
    dependencies=[READ_ACCESS],
    summary="VCP and closing-bet cards (basis labelled)",
)
def backtest(
    session: SessionDep,
    include_flagged: bool = Query(
        default=False,
        description="count imported rows flagged as impossible (left out by default)",
    ),
) -> dict[str, Any]:
    return backtest_summary(session, today_kst(), include_flagged)
