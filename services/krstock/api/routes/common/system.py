"""/api/system routes: data status, and the update streams (SSE) that run the pipeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from krstock.api.deps import READ_ACCESS, StateDep, WriteKey
from krstock.api.infra.errors import ApiError
from krstock.api.infra.state import AppState
from krstock.api.services.data_status import data_status
from krstock.api.services.run_events import run_event_stream
from krstock.api.services.runs import start_run

router = APIRouter(prefix="/system")
DATA_STATUS_TTL_S = 30
# update-single types → run kinds (the monolith's scheduler flags).
SINGLE_UPDATES = {
    "daily_prices": "collect",
    "institutional": "collect",
    "ai_analysis": "analyze",
    "vcp_signals": "vcp_legacy",
    "jongga_v2": "closing_bet",
    "market_gate": "market_gate",
}


def _sse(state: AppState, run_id: str) -> StreamingResponse:
    return StreamingResponse(
        run_event_stream(state, run_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Run-Id": run_id},
    )


@router.get("/data-status", dependencies=[READ_ACCESS], summary="Table freshness and row counts")
def system_data_status(state: StateDep) -> Any:
    def compute() -> dict[str, Any]:
        with state.session() as session:
            return data_status(session)

    body, _ = state.cache.get_or_compute("misc", "data-status", DATA_STATUS_TTL_S, compute)
    return Response(content=body, media_type="application/json")


@router.get(
    "/update-data-stream",
    summary="Run the full pipeline, streaming progress (SSE; write key, ?api_key= allowed)",
)
def update_stream(state: StateDep, _: WriteKey) -> StreamingResponse:
    run = start_run(state, "pipeline")
    return _sse(state, run.id)


@router.get("/update-single", summary="Run one update step, streaming progress (SSE)")
def update_single(
    state: StateDep, _: WriteKey, type: str = Query(..., max_length=32)
) -> StreamingResponse:
    kind = SINGLE_UPDATES.get(type)
    if kind is None:
        raise ApiError(400, f"unknown type {type!r}; use one of {', '.join(SINGLE_UPDATES)}")
    run = start_run(state, kind)
    return _sse(state, run.id)
