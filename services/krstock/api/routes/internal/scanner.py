"""The scanner service's routes: start scans, read their signals, stream a run's progress."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from krstock.api import dispatch
from krstock.api.deps import RATE_LIMIT, READ_ACCESS, SessionDep, StateDep, WriteKey
from krstock.api.infra import validation
from krstock.api.infra.errors import ApiError
from krstock.api.infra.security import authenticate
from krstock.api.infra.state import AppState
from krstock.api.schemas import ScanRequest
from krstock.api.services.runs import read_run, run_summary, start_run
from krstock.api.services.signal_lists import list_signals, named_signals
from krstock.app.kinds import RUN_ID_MAX
from krstock.db.models import ScanRun, Signal

router = APIRouter(tags=["scanner"], dependencies=[RATE_LIMIT])
PROGRESS_POLL_S = 0.25


@router.post(
    "/scan",
    status_code=202,
    summary="Start a scan run; returns its id",
    responses={409: {"description": "a scan of that kind is already running"}},
)
def scan(state: StateDep, body: ScanRequest, _: WriteKey) -> dict[str, Any]:
    run = start_run(
        state,
        body.kind,
        scan_date=validation.optional_date(body.date),
        policy_name=body.policy,
        scanjob=body.scanjob,
    )
    return run_summary(run)


@router.get("/signals", summary="Signals, newest first", dependencies=[READ_ACCESS])
def signals(
    session: SessionDep,
    strategy: str | None = Query(default=None, max_length=32),
    status: Literal["OPEN", "CLOSED", "PENDING", "CANCELLED"] | None = None,
    date: str | None = Query(default=None, max_length=10),
    ticker: str | None = Query(default=None, max_length=6),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    on = validation.parse_date(date) if date else None
    code = validation.ticker(ticker) if ticker else None
    items = list_signals(session, strategy, status, on, code, limit)
    return {"signals": items, "count": len(items)}


@router.get("/signals/{signal_id}", summary="One signal", dependencies=[READ_ACCESS])
def signal(signal_id: int, session: SessionDep) -> dict[str, Any]:
    if not 0 < signal_id < 2**63:
        raise ApiError(400, "signal id must be a positive 64-bit integer")
    row = session.get(Signal, signal_id)
    if row is None:
        raise ApiError(404, f"no signal with id {signal_id}")
    return named_signals(session, [row])[0]


@router.get("/runs/{run_id}", summary="One run's status", dependencies=[READ_ACCESS])
def run(run_id: str, session: SessionDep) -> dict[str, Any]:
    row = session.get(ScanRun, run_id[:RUN_ID_MAX])
    if row is None:
        raise ApiError(404, f"no run with id {run_id[:RUN_ID_MAX]!r}")
    return dispatch.run_as_dict(row)


async def _may_read(websocket: WebSocket, state: AppState) -> bool:
    """When reads need a key, check it; a refusal is a message and close code 4401."""
    if not state.settings.api.api_require_key_for_reads:
        return True
    try:
        await run_in_threadpool(authenticate, websocket, "read", True)
    except ApiError as exc:
        await websocket.send_json({"error": exc.message})
        await websocket.close(code=4401)
        return False
    return True


@router.websocket("/ws/scans/{run_id}")
async def scan_progress(websocket: WebSocket, state: StateDep, run_id: str) -> None:
    """Sends the run's status whenever it changes; closes when it has finished."""
    await websocket.accept()
    if not await _may_read(websocket, state):
        return
    run_id = run_id[:RUN_ID_MAX]
    last: tuple[Any, ...] | None = None
    try:
        while True:
            current = await run_in_threadpool(read_run, state, run_id)
            if current is None:
                await websocket.send_json({"error": f"no run with id {run_id!r}"})
                await websocket.close(code=4404)
                return
            key = (current["status"], current["progress"], str(current["counts"]))
            if key != last:
                await websocket.send_json(current)
                last = key
            if current["status"] in ("SUCCEEDED", "FAILED"):
                await websocket.close()
                return
            await asyncio.sleep(PROGRESS_POLL_S)
    except WebSocketDisconnect:
        return
