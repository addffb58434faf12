"""/api/kr/backtest-summary: the VCP and closing-bet cards of the monolith's dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from krstock.api.deps import READ_ACCESS, SessionDep
from krstock.api.services.clock import today_kst
from krstock.api.services.performance import backtest_summary

router = APIRouter()


@router.get("/kr/backtest-summary", dependencies=[READ_ACCESS], summary="VCP and closing-bet cards")
def backtest(session: SessionDep) -> dict[str, Any]:
    return backtest_summary(session, today_kst())
