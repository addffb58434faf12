"""/api/kr VCP signal routes: the signal list with live prices, and the VCP scan trigger."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from krstock.api.deps import READ_ACCESS, StateDep, WriteKey
from krstock.api.infra import validation
from krstock.api.infra.responses import json_response
from krstock.api.infra.state import AppState
from krstock.api.services.clock import today_kst
from krstock.api.services.live_prices import inject_prices
from krstock.api.services.runs import start_run, wait_for
from krstock.api.services.vcp_signals import signals_body
from krstock.cache import dumps

router = APIRouter()
SCAN_WAIT_S = 120.0


def _signals_cached(state: AppState, mode: str, on: date | None) -> dict[str, Any]:
    """The signal list before prices, cached for the signals TTL (5 min)."""

    def compute() -> dict[str, Any]:
        with state.session() as session:
            return signals_body(session, mode, on, today_kst())

    key = f"legacy:{mode}:{on or 'open'}"
    body, _ = state.cache.get_or_compute("signals", key, state.api.cache_ttl_signals_s, compute)
    data: dict[str, Any] = orjson.loads(body)
    return data


def _priced_signals(state: AppState, mode: str, on: date | None) -> bytes:
    body = _signals_cached(state, mode, on)
    with state.session() as session:
        inject_prices(state, session, body["signals"])
    return dumps(body)


@router.get("/signals", dependencies=[READ_ACCESS], summary="Open VCP signals with live prices")
async def signals(
    request: Request,
    state: StateDep,
    mode: str = Query(default="default", pattern="^(default|ranked)$"),
    date: str | None = Query(default=None, max_length=10),
) -> Response:
    on = validation.optional_date(date)
    # The priced body lives as long as a price (1 min); the signals under it 5 min.
    key = f"legacy:priced:{mode}:{on or 'open'}"
    hit = state.cache.get("signals", key)
    if hit is not None:
        return json_response(request, hit, max_age=30)
    raw: bytes = await run_in_threadpool(_priced_signals, state, mode, on)
    state.cache.set("signals", key, raw, state.api.cache_ttl_prices_s)
    return json_response(request, raw, max_age=30)


@router.post(
    "/vcp-scan",
    status_code=202,
    summary="Run the VCP scan (signal_tracker); needs a write key",
)
def vcp_scan(
    state: StateDep,
    _: WriteKey,
    wait: bool = Query(default=False, description="wait (up to 120 s) for the result"),
) -> JSONResponse:
    run = start_run(state, "vcp_legacy")
    body: dict[str, Any] = {
        "status": "started",
        "run_id": run.id,
        "kind": run.kind,
        "message": "VCP scan started; follow it at /api/v1/runs/" + run.id,
    }
    if wait:
        finished = wait_for(state, run.id, SCAN_WAIT_S)
        if finished is not None:
            body.update(status=finished["status"].lower(), counts=finished["counts"], run=finished)
            return JSONResponse(body, status_code=200 if finished["status"] != "FAILED" else 500)
    return JSONResponse(body, status_code=202)
