"""/api/kr/update: start the full update pipeline (the monolith's "update" button)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from krstock.api.deps import StateDep, WriteKey
from krstock.api.infra.errors import ApiError
from krstock.api.services.runs import start_run

router = APIRouter()


@router.post("/update", summary="Run the full update pipeline; returns true when started")
def update(state: StateDep, _: WriteKey) -> JSONResponse:
    try:
        run = start_run(state, "pipeline")
    except ApiError as exc:
        if exc.status == 409:  # Gen1 answered a bare false when an update was running
            return JSONResponse(False, headers={"X-Error": exc.message[:200]})
        raise
    return JSONResponse(True, headers={"X-Run-Id": run.id})
