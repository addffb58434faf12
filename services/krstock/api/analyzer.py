"""The analyzer service: start AI (or rule-based) analyses and read them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from krstock.api import dispatch, validation
from krstock.api.app import create_service_app
from krstock.api.ratelimit import rate_limit
from krstock.api.security import read_access, require_write
from krstock.api.serializers import analysis_dict
from krstock.api.state import AppState, db_session, get_state
from krstock.db.models import AIAnalysis


class AnalyzeRequest(BaseModel):
    date: str | None = Field(default=None, description="signal date YYYY-MM-DD (default latest)")
    tickers: list[str] = Field(default_factory=list, max_length=50)
    top: int = Field(default=10, ge=1, le=50, description="how many top signals to analyse")

    model_config = {"json_schema_extra": {"examples": [{"date": "2026-02-10", "top": 10}]}}


def analyze(state: AppState, body: AnalyzeRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"top": body.top}
    if body.tickers:
        params["tickers"] = validation.tickers(body.tickers, limit=50)
    run = dispatch.start_run(
        state.engine,
        "analyze",
        state.api.dispatch_mode,
        scan_date=validation.optional_date(body.date),
        params=params,
        broker_url=state.settings.redis_url,
    )
    return {"run_id": run.id, "status": run.status, "kind": run.kind}


def list_analyses(
    session: Session, day: str | None, ticker: str | None, source: str | None, limit: int
) -> list[dict[str, Any]]:
    query = select(AIAnalysis)
    if day:
        query = query.where(AIAnalysis.signal_date == validation.parse_date(day))
    if ticker:
        query = query.where(AIAnalysis.ticker == validation.ticker(ticker))
    if source:
        query = query.where(AIAnalysis.analysis_source == source)
    rows = session.scalars(
        query.order_by(AIAnalysis.signal_date.desc(), AIAnalysis.id.desc()).limit(limit)
    )
    return [analysis_dict(r) for r in rows]


def router() -> APIRouter:
    r = APIRouter(tags=["analyzer"], dependencies=[Depends(rate_limit)])

    @r.post("/analyze", status_code=202, summary="Analyse the top signals of a day")
    def analyze_route(
        request: Request, body: AnalyzeRequest, _: object = Depends(require_write)
    ) -> dict[str, Any]:
        return analyze(get_state(request), body)

    @r.get("/analyses", summary="Analyses, newest first", dependencies=[Depends(read_access)])
    def analyses(
        session: Session = Depends(db_session),
        date: str | None = Query(default=None, max_length=10),
        ticker: str | None = Query(default=None, max_length=6),
        source: str | None = Query(default=None, max_length=32),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:
        items = list_analyses(session, date, ticker, source, limit)
        return {"analyses": items, "count": len(items)}

    return r


def create_app(
    database_url: str | None = None, redis_url: str | None = None, state: AppState | None = None
) -> FastAPI:
    return create_service_app(
        "analyzer",
        "krstock analyzer",
        "Runs news + LLM (or rule-based) analyses of signals and serves them.",
        [router()],
        state=state,
        database_url=database_url,
        redis_url=redis_url,
    )
