"""In-process (local) runs at shutdown: the app waits for them, and marks the ones still going
as interrupted instead of leaving them RUNNING for ever."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from krstock.api import dispatch
from krstock.db.models import ScanRun

pytestmark = pytest.mark.integration


def _status(engine: Engine, run_id: str) -> tuple[str, str | None]:
    with Session(engine) as session:
        row = session.get(ScanRun, run_id)
        assert row is not None
        return row.status, row.error


def test_shutdown_waits_for_local_runs_and_marks_the_unfinished(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import krstock.app.runs as runs

    release = threading.Event()
    started = threading.Event()

    def gate(engine: Engine, run_id: str, day: date, **_: Any) -> None:
        started.set()
        release.wait(10)

    monkeypatch.setattr(runs, "run_market_gate", gate)
    day = date(2024, 1, 2)
    slow = dispatch.start_run(db_engine, "market_gate", "local", scan_date=day)
    assert started.wait(5)
    assert dispatch.finish_local_runs(db_engine, timeout_s=0.2) == [slow.id]
    assert _status(db_engine, slow.id) == ("FAILED", dispatch.INTERRUPTED)
    release.set()

    # A run that ends within the grace period is simply waited for.
    quick = dispatch.start_run(db_engine, "market_gate", "local", scan_date=day)
    assert dispatch.finish_local_runs(db_engine, timeout_s=10) == []
    assert _status(db_engine, quick.id)[0] == "SUCCEEDED"
    assert dispatch.finish_local_runs(db_engine, timeout_s=0) == []  # nothing left
