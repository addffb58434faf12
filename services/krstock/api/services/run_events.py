"""A run's progress as the monolith's SSE lines, polled from ``scan_runs``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from krstock.api import dispatch
from krstock.api.infra.state import AppState
from krstock.db.models import ScanRun

POLL_S = 0.25
MAX_POLLS = 4 * 60 * 30  # at most 30 minutes of polling every 0.25 s


def _progress_line(run: dict[str, Any]) -> str:
    line = f"[{run['kind']}] {run['status']} {run['progress']:.0f}%"
    if run["counts"]:
        line += " " + ", ".join(f"{k}={v}" for k, v in run["counts"].items())
    if run["error"]:
        line += f" error: {run['error'][:500]}"
    return line


async def run_event_stream(state: AppState, run_id: str) -> AsyncIterator[str]:
    """SSE lines for one run: a line per change, then the monolith's end sequence."""
    yield f"data: [SYSTEM] run {run_id} started\n\n"
    last: tuple[Any, ...] | None = None
    exit_code = 1

    def read() -> dict[str, Any] | None:
        with state.session() as session:
            row = session.get(ScanRun, run_id)
            return dispatch.run_as_dict(row) if row is not None else None

    for _ in range(MAX_POLLS):
        current = await run_in_threadpool(read)
        if current is None:
            yield "data: [SYSTEM] run record vanished\n\n"
            break
        key = (current["status"], current["progress"], str(current["counts"]))
        if key != last:
            last = key
            yield f"data: {_progress_line(current)}\n\n"
        if current["status"] not in dispatch.ACTIVE:
            exit_code = 0 if current["status"] == "SUCCEEDED" else 1
            break
        await asyncio.sleep(POLL_S)
    yield f"data: [SYSTEM] Process finished with exit code {exit_code}\n\n"
    yield "event: end\ndata: close\n\n"
