"""Bookkeeping of a run in ``scan_runs``: PENDING → RUNNING → SUCCEEDED | FAILED, with progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from krstock.app.finite import finite
from krstock.app.kinds import SCAN_KINDS, new_run_id
from krstock.db.models import ScanRun
from krstock.db.repositories import ScanRunRepository

ProgressFn = Callable[[float, str], None]
log = logging.getLogger(__name__)

# Run metrics, counted in whichever process runs the step (a worker, or the API in local mode).
# Counters and histograms only: they stay correct under the prefork pool's multiprocess mode.
# Gauges of the last success are read from scan_runs by the gateway (api/infra/metrics.py).
RUNS = Counter(
    "krstock_pipeline_runs_total",
    "Runs finished, by step (run kind) and outcome",
    ["step", "outcome"],
)
RUN_DURATION = Histogram(
    "krstock_pipeline_run_duration_seconds",
    "Run time of one step",
    ["step"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
SCAN_DURATION = Histogram(
    "krstock_scan_duration_seconds",
    "Run time of one scan, by strategy",
    ["strategy"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
SCAN_TICKERS = Counter(
    "krstock_scan_tickers_read_total", "Tickers a scan read, by strategy", ["strategy"]
)
SCAN_SIGNALS = Counter(
    "krstock_scan_signals_found_total", "Signals a scan found, by strategy", ["strategy"]
)
# run_id -> counts given to finish_run, picked up when the run's context exits.
_finished_counts: dict[str, Mapping[str, Any]] = {}


def _observe(kind: str, outcome: str, seconds: float, counts: Mapping[str, Any]) -> None:
    RUNS.labels(kind, outcome).inc()
    RUN_DURATION.labels(kind).observe(seconds)
    if kind in SCAN_KINDS and outcome == "succeeded":
        SCAN_DURATION.labels(kind).observe(seconds)
        SCAN_TICKERS.labels(kind).inc(int(counts.get("scanned") or 0))
        SCAN_SIGNALS.labels(kind).inc(int(counts.get("signals") or 0))


class RunRecorder:
    """Progress of one run; every update is its own short transaction so viewers see it live."""

    def __init__(self, engine: Engine, run_id: str, progress: ProgressFn | None = None) -> None:
        self.engine = engine
        self.run_id = run_id
        self._callback = progress

    def progress(self, percent: float, message: str) -> None:
        with Session(self.engine) as session, session.begin():
            ScanRunRepository(session).progress(self.run_id, percent)
        log.info(message, extra={"run_id": self.run_id, "progress": round(percent, 1)})
        if self._callback is not None:
            self._callback(percent, message)


@contextmanager
def recorded_run(
    engine: Engine,
    *,
    kind: str,
    day: date | None,
    run_id: str | None = None,
    params: Mapping[str, Any] | None = None,
    policy_name: str | None = None,
    source: str | None = None,
    scanjob: str | None = None,
    progress: ProgressFn | None = None,
) -> Iterator[RunRecorder]:
    """Create (or reuse, by id) the run row, mark it RUNNING, and FAILED with the error if the
    body raises. The body marks success itself with :func:`finish_run` inside its write
    transaction, so results and SUCCEEDED land together."""
    run_id = run_id or new_run_id(kind, day)
    with Session(engine) as session, session.begin():
        repo = ScanRunRepository(session)
        repo.create(
            run_id,
            kind,
            scan_date=day,
            params=params,
            policy_name=policy_name,
            scanjob=scanjob,
            source=source,
        )
        repo.mark_running(run_id)
    recorder = RunRecorder(engine, run_id, progress)
    started = time.monotonic()
    try:
        yield recorder
    except BaseException as exc:
        _finished_counts.pop(run_id, None)
        with Session(engine) as session, session.begin():
            ScanRunRepository(session).failed(run_id, f"{type(exc).__name__}: {exc}"[:2000])
        _observe(kind, "failed", time.monotonic() - started, {})
        raise
    # A body that returns without finish_run left the row RUNNING (e.g. it handed work on).
    counts = _finished_counts.pop(run_id, None)
    outcome = "succeeded" if counts is not None else "unfinished"
    _observe(kind, outcome, time.monotonic() - started, counts or {})


def finish_run(session: Session, run_id: str, counts: Mapping[str, Any]) -> None:
    """Mark the run SUCCEEDED in the caller's transaction (with the results it wrote)."""
    ScanRunRepository(session).succeeded(run_id, finite(dict(counts)))
    _finished_counts[run_id] = counts


def run_status(engine: Engine, run_id: str) -> tuple[str, dict[str, Any]] | None:
    """(status, counts) of a scan_runs row, or None when there is none."""
    with Session(engine) as session:
        row = session.execute(
            select(ScanRun.status, ScanRun.counts).where(ScanRun.id == run_id)
        ).first()
    return (row[0], dict(row[1] or {})) if row else None


def record_run(
    engine: Engine,
    run_id: str,
    *,
    kind: str,
    status: str,
    day: date | None = None,
    progress: float | None = None,
    counts: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    error: str | None = None,
    source: str | None = None,
) -> None:
    """Upsert a run row by id with its status: what a pipeline records of itself (its steps
    record their own through :func:`recorded_run`)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {"id": run_id, "kind": kind, "status": status}
    if day is not None:  # later updates without a day keep the one the run started with
        values["scan_date"] = day
    if progress is not None:
        values["progress"] = progress
    if counts is not None:
        values["counts"] = counts
    if params is not None:
        values["params"] = params
    if source is not None:
        values["source"] = source
    values["error"] = error
    if status == "RUNNING":
        values["started_at"] = now
    if status in ("SUCCEEDED", "FAILED"):
        values["finished_at"] = now
    stmt = insert(ScanRun).values(**values)
    update_cols = {k: stmt.excluded[k] for k in values if k not in ("id", "kind")}
    if status == "RUNNING":
        # A redelivered pipeline keeps its first start time.
        update_cols.pop("started_at", None)
    with Session(engine) as session:
        session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=update_cols))
        session.commit()
    if status in ("SUCCEEDED", "FAILED"):
        RUNS.labels(kind, status.lower()).inc()
