"""The scanner service: start scans, read their signals, stream a run's progress."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from krstock.api import dispatch, queries, validation
from krstock.api.app import create_service_app
from krstock.api.errors import ApiError
from krstock.api.ratelimit import rate_limit
from krstock.api.security import authenticate, read_access, require_write
from krstock.api.serializers import signal_dict
from krstock.api.state import AppState, db_session, get_state
from krstock.db.models import ScanRun, Signal

ScanKind = Literal["vcp", "vcp_legacy", "closing_bet", "market_gate"]


class ScanRequest(BaseModel):
    kind: ScanKind = Field(default="vcp", description="which scan to run")
    date: str | None = Field(default=None, description="scan date YYYY-MM-DD (default: latest)")
    policy: str | None = Field(default=None, max_length=64, description="SignalPolicy name")
    scanjob: str | None = Field(default=None, max_length=253, description="namespace/name")

    model_config = {"json_schema_extra": {"examples": [{"kind": "vcp", "date": "2026-02-10"}]}}


def start_scan(state: AppState, body: ScanRequest) -> dict[str, Any]:
    run = dispatch.start_run(
        state.engine,
        body.kind,
        state.api.dispatch_mode,
        scan_date=validation.optional_date(body.date),
        policy_name=body.policy,
        scanjob=body.scanjob,
        broker_url=state.settings.redis_url,
    )
    return {"run_id": run.id, "status": run.status, "kind": run.kind}


def list_signals(
    session: Session,
    strategy: str | None,
    status: str | None,
    signal_date: str | None,
    ticker: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    query = select(Signal)
    if strategy:
        query = query.where(Signal.strategy.in_(queries.strategy_aliases(strategy)))
    if status:
        query = query.where(Signal.status == status.upper())
    if signal_date:
        query = query.where(Signal.signal_date == validation.parse_date(signal_date))
    if ticker:
        query = query.where(Signal.ticker == validation.ticker(ticker))
    rows = list(session.scalars(query.order_by(Signal.signal_date.desc(), Signal.id).limit(limit)))
    names = queries.names_for(session, [r.ticker for r in rows])
    return [signal_dict(r, *names.get(r.ticker, (None, None))) for r in rows]


def router() -> APIRouter:
    r = APIRouter(tags=["scanner"], dependencies=[Depends(rate_limit)])

    @r.post(
        "/scan",
        status_code=202,
        summary="Start a scan run; returns its id",
        responses={409: {"description": "a scan of that kind is already running"}},
    )
    def scan(
        request: Request, body: ScanRequest, _: object = Depends(require_write)
    ) -> dict[str, Any]:
        return start_scan(get_state(request), body)

    @r.get("/signals", summary="Signals, newest first", dependencies=[Depends(read_access)])
    def signals(
        session: Session = Depends(db_session),
        strategy: str | None = Query(default=None, max_length=32),
        status: Literal["OPEN", "CLOSED", "PENDING", "CANCELLED"] | None = None,
        date: str | None = Query(default=None, max_length=10),
        ticker: str | None = Query(default=None, max_length=6),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:
        items = list_signals(session, strategy, status, date, ticker, limit)
        return {"signals": items, "count": len(items)}

    @r.get("/signals/{signal_id}", summary="One signal", dependencies=[Depends(read_access)])
    def signal(signal_id: int, session: Session = Depends(db_session)) -> dict[str, Any]:
        if not 0 < signal_id < 2**63:
            raise ApiError(400, "signal id must be a positive 64-bit integer")
        row = session.get(Signal, signal_id)
        if row is None:
            raise ApiError(404, f"no signal with id {signal_id}")
        names = queries.names_for(session, [row.ticker])
        return signal_dict(row, *names.get(row.ticker, (None, None)))

    @r.get("/runs/{run_id}", summary="One run's status", dependencies=[Depends(read_access)])
    def run(run_id: str, session: Session = Depends(db_session)) -> dict[str, Any]:
        row = session.get(ScanRun, run_id[:64])
        if row is None:
            raise ApiError(404, f"no run with id {run_id[:64]!r}")
        return dispatch.run_as_dict(row)

    @r.websocket("/ws/scans/{run_id}")
    async def scan_progress(websocket: WebSocket, run_id: str) -> None:
        """Sends the run's status whenever it changes; closes when it has finished."""
        await websocket.accept()
        state: AppState = websocket.app.state.krstock
        last: tuple[Any, ...] | None = None
        if state.settings.api_require_key_for_reads:
            try:
                await run_in_threadpool(authenticate, websocket, "read", True)
            except ApiError as exc:
                await websocket.send_json({"error": exc.message})
                await websocket.close(code=4401)
                return

        def read() -> dict[str, Any] | None:
            with state.session() as session:
                row = session.get(ScanRun, run_id[:64])
                return dispatch.run_as_dict(row) if row is not None else None

        try:
            while True:
                current = await run_in_threadpool(read)
                if current is None:
                    await websocket.send_json({"error": f"no run with id {run_id[:64]!r}"})
                    await websocket.close(code=4404)
                    return
                key = (current["status"], current["progress"], str(current["counts"]))
                if key != last:
                    await websocket.send_json(current)
                    last = key
                if current["status"] in ("SUCCEEDED", "FAILED"):
                    await websocket.close()
                    return
                await asyncio.sleep(0.25)
        except WebSocketDisconnect:
            return

    return r


def create_app(
    database_url: str | None = None, redis_url: str | None = None, state: AppState | None = None
) -> FastAPI:
    return create_service_app(
        "scanner",
        "krstock scanner",
        "Starts VCP, closing-bet and market-gate scans and serves their signals.",
        [router()],
        state=state,
        database_url=database_url,
        redis_url=redis_url,
    )
