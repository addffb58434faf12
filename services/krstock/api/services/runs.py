"""Starting runs from a route and waiting for them, through ``krstock.api.dispatch``."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from krstock.api import dispatch
from krstock.api.infra.state import AppState
from krstock.db.models import ScanRun

WAIT_POLL_S = 0.25


def start_run(
    state: AppState,
    kind: str,
    *,
    scan_date: date | None = None,
    params: dict[str, Any] | None = None,
    policy_name: str | None = None,
    scanjob: str | None = None,
    wait: bool = False,
) -> ScanRun:
    """Record and start a run with this app's dispatch mode (409 when one is active).

    ``wait`` runs it in this thread, and only in local mode (a Celery run is always enqueued).
    """
    return dispatch.start_run(
        state.engine,
        kind,
        state.api.dispatch_mode,
        scan_date=scan_date,
        params=params,
        policy_name=policy_name,
        scanjob=scanjob,
        broker_url=state.settings.redis_url,
        wait=wait and state.api.dispatch_mode == "local",
    )


def run_summary(run: ScanRun) -> dict[str, Any]:
    """What a trigger answers: the run's id, status and kind."""
    return {"run_id": run.id, "status": run.status, "kind": run.kind}


def wait_for(state: AppState, run_id: str, timeout_s: float) -> dict[str, Any] | None:
    """The run once it has finished, or None after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        finished = _finished(state, run_id)
        if finished is not None:
            return finished
        if time.monotonic() >= deadline:
            return None
        time.sleep(WAIT_POLL_S)


def _finished(state: AppState, run_id: str) -> dict[str, Any] | None:
    with state.session() as session:
        row = session.get(ScanRun, run_id)
        if row is not None and row.status not in dispatch.ACTIVE:
            return dispatch.run_as_dict(row)
    return None


def read_run(state: AppState, run_id: str) -> dict[str, Any] | None:
    with state.session() as session:
        row = session.get(ScanRun, run_id)
        return dispatch.run_as_dict(row) if row is not None else None
