"""The analyzer service's routes: start AI (or rule-based) analyses and read them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from krstock.api.deps import RATE_LIMIT, READ_ACCESS, SessionDep, StateDep, WriteKey
from krstock.api.infra import validation
from krstock.api.schemas import AnalyzeRequest
from krstock.api.services.analyses import list_analyses
from krstock.api.services.runs import run_summary, start_run

router = APIRouter(tags=["analyzer"], dependencies=[RATE_LIMIT])
TICKERS_MAX = 50


@router.post("/analyze", status_code=202, summary="Analyse the top signals of a day")
def analyze_route(state: StateDep, body: AnalyzeRequest, _: WriteKey) -> dict[str, Any]:
    params: dict[str, Any] = {"top": body.top}
    if body.tickers:
        params["tickers"] = validation.tickers(body.tickers, limit=TICKERS_MAX)
    run = start_run(state, "analyze", scan_date=validation.optional_date(body.date), params=params)
    return run_summary(run)


@router.get("/analyses", summary="Analyses, newest first", dependencies=[READ_ACCESS])
def analyses(
    session: SessionDep,
    date: str | None = Query(default=None, max_length=10),
    ticker: str | None = Query(default=None, max_length=6),
    source: str | None = Query(default=None, max_length=32),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    day = validation.parse_date(date) if date else None
    code = validation.ticker(ticker) if ticker else None
    items = list_analyses(session, day, code, source, limit)
    return {"analyses": items, "count": len(items)}
