"""/api/run-analysis: start the AI analysis and performance tracking runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from krstock.api.deps import StateDep, WriteKey
from krstock.api.services.runs import start_run

router = APIRouter()


@router.post("/run-analysis", summary="Start AI analysis and tracking (write key)")
def run_analysis(state: StateDep, _: WriteKey) -> dict[str, Any]:
    analyze = start_run(state, "analyze")
    track = start_run(state, "track")
    return {
        "status": "started",
        "message": "analysis and performance tracking started",
        "run_ids": [analyze.id, track.id],
    }
