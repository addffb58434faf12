"""The signal engine service: generate signals, read the latest day's or a given day's."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from krstock.api import dispatch, queries, validation
from krstock.api.app import create_service_app
from krstock.api.ratelimit import rate_limit
from krstock.api.security import read_access, require_write
from krstock.api.serializers import signal_dict
from krstock.api.state import AppState, db_session, get_state
from krstock.db.models import Signal

Strategy = Literal["vcp", "vcp_legacy", "closing_bet"]


class GenerateRequest(BaseModel):
    strategies: list[Strategy] = Field(default=["vcp_legacy", "closing_bet"], min_length=1)
    date: str | None = Field(default=None, description="YYYY-MM-DD (default: latest data)")
    policy: str | None = Field(default=None, max_length=64)

    model_config = {
        "json_schema_extra": {"examples": [{"strategies": ["closing_bet"], "date": "2026-02-05"}]}
    }


def signals_on(
    session: Session, on: date | None, strategy: str | None, limit: int
) -> dict[str, Any]:
    """Signals of one day (default: the newest day with signals), best score first."""
    base = select(Signal)
    if strategy:
        base = base.where(Signal.strategy.in_(queries.strategy_aliases(strategy)))
    if on is None:
        newest = select(func.max(Signal.signal_date))
        if strategy:
            newest = newest.where(Signal.strategy.in_(queries.strategy_aliases(strategy)))
        on = session.scalar(newest)
    if on is None:
        return {"date": None, "signals": [], "count": 0}
    rows = list(
        session.scalars(
            base.where(Signal.signal_date == on)
            .order_by(Signal.score.desc().nulls_last(), Signal.id)
            .limit(limit)
        )
    )
    names = queries.names_for(session, [r.ticker for r in rows])
    items = [signal_dict(r, *names.get(r.ticker, (None, None))) for r in rows]
    return {"date": on.isoformat(), "signals": items, "count": len(items)}


def generate(state: AppState, body: GenerateRequest) -> dict[str, Any]:
    scan_date = validation.optional_date(body.date)
    runs = []
    for strategy in dict.fromkeys(body.strategies):
        run = dispatch.start_run(
            state.engine,
            strategy,
            state.api.dispatch_mode,
            scan_date=scan_date,
            policy_name=body.policy,
            broker_url=state.settings.redis_url,
        )
        runs.append({"run_id": run.id, "kind": run.kind, "status": run.status})
    return {"runs": runs}


def router() -> APIRouter:
    r = APIRouter(tags=["signals"], dependencies=[Depends(rate_limit)])

    @r.post("/generate", status_code=202, summary="Generate signals (one run per strategy)")
    def generate_route(
        request: Request, body: GenerateRequest, _: object = Depends(require_write)
    ) -> dict[str, Any]:
        return generate(get_state(request), body)

    @r.get(
        "/signals/latest", summary="The newest day's signals", dependencies=[Depends(read_access)]
    )
    def latest(
        session: Session = Depends(db_session),
        strategy: Strategy | None = None,
        limit: int = Query(default=200, ge=1, le=1000),
    ) -> dict[str, Any]:
        return signals_on(session, None, strategy, limit)

    @r.get("/signals/{day}", summary="One day's signals", dependencies=[Depends(read_access)])
    def on_day(
        day: str,
        session: Session = Depends(db_session),
        strategy: Strategy | None = None,
        limit: int = Query(default=200, ge=1, le=1000),
    ) -> dict[str, Any]:
        return signals_on(session, validation.parse_date(day), strategy, limit)

    return r


def create_app(
    database_url: str | None = None, redis_url: str | None = None, state: AppState | None = None
) -> FastAPI:
    return create_service_app(
        "signals",
        "krstock signal engine",
        "Generates VCP and closing-bet signals and serves them by day.",
        [router()],
        state=state,
        database_url=database_url,
        redis_url=redis_url,
    )
