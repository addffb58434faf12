"""/api/kr AI routes: the kr_ai_analysis.json document, its history, per-ticker summaries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from krstock.api.deps import READ_ACCESS, SessionDep, StateDep
from krstock.api.infra import validation
from krstock.api.infra.security import authenticate
from krstock.api.services import analyses
from krstock.api.services.ai_report import ai_analysis_body
from krstock.api.services.clock import today_kst
from krstock.api.services.runs import start_run

router = APIRouter()


@router.get("/ai-summary/{ticker}", dependencies=[READ_ACCESS], summary="AI summary of one ticker")
def ai_summary(ticker: str, session: SessionDep) -> dict[str, Any]:
    return analyses.ai_summary(session, validation.ticker(ticker))


@router.get("/ai-analysis", summary="kr_ai_analysis.json (refresh=true needs a write key)")
def ai_analysis(
    request: Request,
    state: StateDep,
    session: SessionDep,
    refresh: bool = False,
    date: str | None = Query(default=None, max_length=32),
) -> JSONResponse:
    # Reads may be open, a refresh never is: the scope depends on the query.
    authenticate(
        request,
        "write" if refresh else "read",
        required=refresh or state.settings.api.api_require_key_for_reads,
    )
    on = validation.legacy_date(date) if date else None
    body = ai_analysis_body(session, on, today_kst())
    result: dict[str, Any] = body or {"signals": [], "generated_at": None}
    if refresh:
        # force: the same facts are asked again (a plain run answers them from the cache).
        # The day the document shows (the newest analysed day without ?date=).
        shown = on or (dt.date.fromisoformat(body["signal_date"]) if body else None)
        run = start_run(state, "analyze", scan_date=shown, params={"force": True})
        result["refresh_run_id"] = run.id
        result["message"] = "analysis started; reload when the run has finished"
    return JSONResponse(result)


@router.get(
    "/ai-history-dates", dependencies=[READ_ACCESS], summary="Dates with AI analyses (Gen1 names)"
)
def ai_history_dates(session: SessionDep) -> dict[str, Any]:
    dates = analyses.history_dates(session)
    return {"dates": dates, "count": len(dates)}


@router.get(
    "/ai-history/{day}", dependencies=[READ_ACCESS], summary="One day's AI analysis document"
)
def ai_history(day: str, session: SessionDep) -> JSONResponse:
    body = ai_analysis_body(session, validation.legacy_date(day), today_kst())
    if body is None:
        return JSONResponse({"error": "Date not found"}, status_code=404)
    return JSONResponse(body)
