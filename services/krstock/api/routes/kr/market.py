"""/api/kr market routes: market status, the Market Gate, stock charts and realtime prices."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from krstock.api.deps import READ_ACCESS, SessionDep, StateDep, WriteKey
from krstock.api.infra import validation
from krstock.api.infra.responses import json_response
from krstock.api.infra.security import authenticate
from krstock.api.infra.state import AppState
from krstock.api.services import market, stocks
from krstock.api.services.live_prices import quotes_for
from krstock.api.services.runs import start_run
from krstock.api.services.serializers import iso

router = APIRouter()


@router.get("/market-status", dependencies=[READ_ACCESS], summary="KODEX 200 MA regime")
def market_status(session: SessionDep) -> JSONResponse:
    code, body = market.market_status(session)
    return JSONResponse(body, status_code=code)


def _gate_body(state: AppState, on: date | None) -> tuple[int, dict[str, Any]]:
    with state.session() as session:
        return market.legacy_gate_body(session, on)


@router.get(
    "/market-gate",
    dependencies=[READ_ACCESS],
    summary="Market Gate (status, score, sectors, KOSPI/KOSDAQ fields)",
)
async def market_gate(
    request: Request,
    state: StateDep,
    date: str | None = Query(default=None, max_length=10),
    refresh: bool = Query(default=False, description="recompute first (write key)"),
) -> Response:
    on = validation.optional_date(date)
    if refresh:
        await run_in_threadpool(authenticate, request, "write", True)
        await run_in_threadpool(start_run, state, "market_gate", scan_date=on)
    key = f"legacy:{on or 'latest'}"
    cached = state.cache.get("gate", key)
    if cached is not None:
        return json_response(request, cached, max_age=60)
    code, body = await run_in_threadpool(_gate_body, state, on)
    if code != 200:
        return JSONResponse(body, status_code=code)
    raw = orjson.dumps(body, default=str)
    state.cache.set("gate", key, raw, state.api.cache_ttl_gate_s)
    return json_response(request, raw, max_age=60)


@router.get("/market-gate/dates", dependencies=[READ_ACCESS], summary="Dates with a Market Gate")
def market_gate_dates(session: SessionDep) -> list[str]:
    return market.gate_dates(session)


@router.get(
    "/market-gate/history/{day}", dependencies=[READ_ACCESS], summary="One day's Market Gate"
)
def market_gate_history(state: StateDep, day: str) -> JSONResponse:
    code, body = _gate_body(state, validation.legacy_date(day))
    return JSONResponse(body, status_code=code)


@router.post("/market-gate/update", status_code=202, summary="Recompute the gate (write key)")
def market_gate_update(
    state: StateDep, _: WriteKey, body: dict[str, Any] | None = Body(default=None)
) -> dict[str, Any]:
    target = (body or {}).get("target_date")
    on = validation.legacy_date(str(target)) if target else None
    run = start_run(state, "market_gate", scan_date=on)
    return {"status": "started", "run_id": run.id, "target_date": iso(on)}


@router.get("/stock-chart/{ticker}", dependencies=[READ_ACCESS], summary="Last 300 daily bars")
def stock_chart(
    ticker: str, session: SessionDep, period: str | None = Query(default=None, max_length=8)
) -> JSONResponse:
    code, body = stocks.chart(session, validation.ticker(ticker), period)
    return JSONResponse(body, status_code=code)


@router.post("/realtime-prices", dependencies=[READ_ACCESS], summary="Flat {ticker: price} map")
def realtime_prices(
    state: StateDep, session: SessionDep, body: dict[str, Any] | None = Body(default=None)
) -> Response:
    raw = (body or {}).get("tickers") or []
    if not isinstance(raw, list):
        return JSONResponse({"error": "tickers must be a list"}, status_code=400)
    quotes = quotes_for(state, session, validation.tickers([str(t) for t in raw]))
    flat = {t: q.price for t, q in quotes.items() if q.price > 0}
    sources = ",".join(sorted({q.source for q in quotes.values()})) or "none"
    return JSONResponse(flat, headers={"X-Price-Source": sources})
