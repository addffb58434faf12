"""/api/kr/jongga-v2 routes: closing-bet (종가베팅 V2) results, runs and single-stock re-scores."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from krstock.api.deps import READ_ACCESS, SessionDep, StateDep, WriteKey
from krstock.api.infra import validation
from krstock.api.infra.errors import ApiError
from krstock.api.infra.response_cache import cached_async
from krstock.api.services import closing_bet
from krstock.api.services.clock import today_kst
from krstock.api.services.runs import start_run, wait_for
from krstock.api.services.serializers import iso

router = APIRouter(prefix="/jongga-v2")
CAPITAL_MAX = 10**13
ANALYZE_WAIT_S = 90.0
NOT_FOUND = {"error": "Data not found for this date"}


@router.get("/latest", dependencies=[READ_ACCESS], summary="The newest closing-bet result")
async def jongga_latest(request: Request, state: StateDep) -> Response:
    def compute() -> dict[str, Any]:
        with state.session() as session:
            return closing_bet.latest_result(session, today_kst())

    ttl_s = state.api.cache_ttl_signals_s
    return await cached_async(request, "signals", ttl_s, compute, key="jongga:latest")


@router.get("/dates", dependencies=[READ_ACCESS], summary="Bare array of result dates")
async def jongga_dates(request: Request, state: StateDep) -> Response:
    def compute() -> list[str]:
        with state.session() as session:
            return [d.isoformat() for d in closing_bet.closing_bet_dates(session)]

    ttl_s = state.api.cache_ttl_signals_s
    return await cached_async(request, "signals", ttl_s, compute, key="jongga:dates")


@router.get("/history/{day}", dependencies=[READ_ACCESS], summary="One day (YYYYMMDD|YYYY-MM-DD)")
def jongga_history(day: str, session: SessionDep) -> JSONResponse:
    try:
        on = validation.legacy_date(day)
    except ApiError:
        return JSONResponse(NOT_FOUND, status_code=404)
    result = closing_bet.jongga_result(session, on)
    if result is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    return JSONResponse(result)


@router.get("/status", dependencies=[READ_ACCESS], summary="Is a closing-bet run active")
def jongga_status(session: SessionDep) -> dict[str, Any]:
    return closing_bet.run_status(session)


@router.post("/run", status_code=202, summary="Run the closing-bet engine (write key)")
def jongga_run(
    state: StateDep, _: WriteKey, body: dict[str, Any] | None = Body(default=None)
) -> JSONResponse:
    body = body or {}
    params: dict[str, Any] = {}
    if "capital" in body:
        capital = body["capital"]
        if not isinstance(capital, int) or not 0 < capital <= CAPITAL_MAX:
            return JSONResponse({"error": "capital must be a positive integer (KRW)"}, 400)
        # Sizing capital is a SignalPolicy setting (KRSTOCK_CAPITAL_KRW for the default);
        # a per-request value is recorded on the run but does not change the engine.
        params["requested_capital"] = capital
    target = body.get("target_date")
    on = validation.legacy_date(str(target)) if target else None
    try:
        run = start_run(state, "closing_bet", scan_date=on, params=params)
    except ApiError as exc:
        if exc.status == 409:
            return JSONResponse({"status": "error", "message": "Already running"}, 409)
        raise
    return JSONResponse(
        {
            "status": "accepted",
            "message": "closing-bet run started; poll /api/kr/jongga-v2/status",
            "run_id": run.id,
            "target_date": iso(on),
        },
        status_code=202,
    )


@router.post("/analyze", summary="Re-score one stock of the latest result (write key)")
def jongga_analyze(
    state: StateDep, _: WriteKey, body: dict[str, Any] | None = Body(default=None)
) -> JSONResponse:
    code_raw = (body or {}).get("code")
    if not code_raw:
        return JSONResponse({"error": "Stock code is required"}, status_code=400)
    code = validation.ticker(str(code_raw))
    with state.session() as session:
        dates = closing_bet.closing_bet_dates(session, limit=1)
    if not dates:
        return JSONResponse({"error": "No closing-bet result to re-analyse"}, 404)
    try:
        # A closing-bet scan of that date narrowed to the one stock (waits in local mode).
        run = start_run(
            state, "closing_bet", scan_date=dates[0], params={"tickers": [code]}, wait=True
        )
    except ApiError as exc:
        if exc.status == 409:
            return JSONResponse({"status": "failed", "message": "Already running"}, 409)
        raise
    finished = wait_for(state, run.id, ANALYZE_WAIT_S)
    with state.session() as session:
        item = closing_bet.find_signal(closing_bet.jongga_result(session, dates[0]), code)
    if finished is None or finished["status"] == "FAILED" or item is None:
        return JSONResponse(
            {
                "status": "failed",
                "message": "Analysis failed or no signal generated",
                "run_id": run.id,
            },
            status_code=500,
        )
    state.cache.invalidate("signals")
    return JSONResponse({"status": "success", "signal": item, "run_id": run.id})
