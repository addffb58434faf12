"""Starting runs from the API: a ``scan_runs`` row first (so the caller gets its id), then the work.

The request is a :class:`~krstock.app.runs.RunRequest`, parsed from the API's spelling of kinds
and parameters (the monolith's names included). ``dispatch_mode=celery`` enqueues its task by
name on its queue (``krstock.app.kinds``; the API never imports worker internals);
``dispatch_mode=local`` (laptop, demo, tests) runs ``krstock.app.runs.run`` in a background
thread of this process. Either way progress and outcome land in ``scan_runs``.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from krstock.api.infra.errors import ApiError
from krstock.app import runs
from krstock.app.kinds import RunKind, parse_kind, queue_for, spellings, task_for
from krstock.app.runs import RunRequest
from krstock.config import get_settings
from krstock.db.models import DailyPrice, ScanRun

log = logging.getLogger("krstock.api.dispatch")

ACTIVE = ("PENDING", "RUNNING")
# One producer app per broker URL (its connection pool is reused across requests).
_CELERY_APPS: dict[str | None, Any] = {}
STALE_AFTER = timedelta(hours=2)
# The advisory-lock class of "start a run of kind K" (the object is the hash of K).
_RUN_START_LOCK = 0x6B72_5255  # "krRU"


def _kind(name: str) -> RunKind:
    try:
        return parse_kind(name)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def extra_params(kind: str) -> tuple[str, ...]:
    """The ``params`` keys a caller may pass for ``kind`` (beyond date, policy and scanjob)."""
    return tuple(sorted(runs.extra_params(_kind(kind))))


def kind_aliases(kind: str) -> tuple[str, ...]:
    """Every spelling of a run kind that ``scan_runs`` may hold."""
    return spellings(_kind(kind))


def active_run(session: Session, kind: str) -> ScanRun | None:
    """A run of ``kind`` still pending or running (ignoring ones abandoned long ago)."""
    since = datetime.now(UTC) - STALE_AFTER
    return session.scalars(
        select(ScanRun)
        .where(
            ScanRun.kind.in_(kind_aliases(kind)),
            ScanRun.status.in_(ACTIVE),
            ScanRun.created_at >= since,
        )
        .order_by(ScanRun.created_at.desc())
        .limit(1)
    ).first()


def lock_kind(session: Session, kind: RunKind) -> None:
    """Serializes starting runs of ``kind`` until this transaction ends, across processes.

    The check for an active run and the insert of the new one then happen as one step: without
    it, concurrent starts all read "none active" and all insert. A lock rather than a unique
    index, because a stale run (older than ``STALE_AFTER``) must not block, and worker pipelines
    record their step runs in the same table.
    """
    session.execute(
        select(func.pg_advisory_xact_lock(_RUN_START_LOCK, func.hashtext(str(kind.value))))
    )


def _mark(engine: Engine, run_id: str, **values: Any) -> None:
    with Session(engine) as session:
        session.execute(update(ScanRun).where(ScanRun.id == run_id).values(**values))
        session.commit()


def latest_data_day(engine: Engine) -> date:
    """The newest day with prices (what a scan without a date runs on); today when empty."""
    with Session(engine) as session:
        day = session.scalar(select(func.max(DailyPrice.date)))
    return day or datetime.now(UTC).date()


def _run_locally(engine: Engine, request: RunRequest) -> None:
    try:
        runs.run(engine, request)
    except Exception as exc:
        log.exception("run failed", extra={"run_id": request.run_id})
        _mark(
            engine,
            str(request.run_id),
            status="FAILED",
            error=str(exc)[:2000],
            finished_at=datetime.now(UTC),
        )
        return
    # The run function owns its row; if it left it unfinished, close it here.
    with Session(engine) as session:
        row = session.get(ScanRun, request.run_id)
        if row is not None and row.status in ACTIVE:
            row.status = "SUCCEEDED"
            row.progress = 100.0
            row.finished_at = datetime.now(UTC)
            session.commit()


def _request(
    engine: Engine,
    kind: RunKind,
    scan_date: date | None,
    params: dict[str, Any],
    policy_name: str | None,
    scanjob: str | None,
) -> RunRequest:
    """The run request of an API call; a run without a date runs on the newest data day, and
    collection reads from the configured market source unless told otherwise."""
    values = dict(params)
    if kind in (RunKind.COLLECT, RunKind.BACKTEST) and "end" in values:
        values["day"] = values.pop("end")
    values.setdefault("day", scan_date)
    if kind is RunKind.COLLECT:
        values.setdefault("source", get_settings().market_source)
    try:
        request = RunRequest.parse(kind, policy=policy_name, scanjob=scanjob, **values)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    if request.day is None:
        request = RunRequest.parse(
            kind, policy=policy_name, scanjob=scanjob, **{**values, "day": latest_data_day(engine)}
        )
    return request


def start_run(
    engine: Engine,
    kind: str,
    mode: str,
    *,
    scan_date: date | None = None,
    params: dict[str, Any] | None = None,
    policy_name: str | None = None,
    scanjob: str | None = None,
    broker_url: str | None = None,
    reject_if_busy: bool = True,
    wait: bool = False,
) -> ScanRun:
    """Record a PENDING run and start it; 409 when one of the same kind is already active."""
    the_kind = _kind(kind)
    params = dict(params or {})
    request = _request(engine, the_kind, scan_date, params, policy_name, scanjob).with_run_id()
    with Session(engine) as session:
        if reject_if_busy:
            lock_kind(session, the_kind)  # held until the commit below
            busy = active_run(session, kind)
            if busy is not None:
                raise ApiError(
                    409,
                    f"a {kind} run is already {busy.status.lower()} (id {busy.id})",
                    "already_running",
                    extra={"run_id": busy.id},
                )
        run = ScanRun(
            id=request.run_id,
            kind=the_kind,
            scan_date=request.day,
            status="PENDING",
            progress=0.0,
            params=params,
            counts={},
            policy_name=policy_name,
            scanjob=scanjob,
            source="api",
        )
        session.add(run)
        session.commit()
        session.refresh(run)
    if mode == "celery":
        _enqueue(engine, request, broker_url)
    elif wait:
        _run_locally(engine, request)
    else:
        _start_local(engine, request)
    return run


# In-process runs by engine (one per app), so that an app stopping can wait for its own runs.
_LOCAL_RUNS: dict[Engine, dict[str, threading.Thread]] = {}
_LOCAL_LOCK = threading.Lock()
INTERRUPTED = "interrupted: the service stopped before the run finished"


def _start_local(engine: Engine, request: RunRequest) -> None:
    run_id = str(request.run_id)

    def tracked() -> None:
        try:
            _run_locally(engine, request)
        finally:
            with _LOCAL_LOCK:
                _LOCAL_RUNS.get(engine, {}).pop(run_id, None)

    thread = threading.Thread(target=tracked, name=f"run-{run_id[:8]}", daemon=True)
    with _LOCAL_LOCK:
        _LOCAL_RUNS.setdefault(engine, {})[run_id] = thread
    thread.start()


def finish_local_runs(engine: Engine, timeout_s: float) -> list[str]:
    """At shutdown: wait up to ``timeout_s`` for the in-process runs started on ``engine``; those
    still going are marked FAILED (``INTERRUPTED``) rather than left RUNNING for ever (their
    threads die with the process). Returns the ids so marked."""
    with _LOCAL_LOCK:
        running = dict(_LOCAL_RUNS.get(engine, {}))
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    for thread in running.values():
        thread.join(max(0.0, (deadline - datetime.now(UTC)).total_seconds()))
    interrupted = [run_id for run_id, thread in running.items() if thread.is_alive()]
    for run_id in interrupted:
        log.warning("run %s %s", run_id, INTERRUPTED)
        _mark(engine, run_id, status="FAILED", error=INTERRUPTED, finished_at=datetime.now(UTC))
    return interrupted


def _enqueue(engine: Engine, request: RunRequest, broker_url: str | None) -> None:
    from celery import Celery

    task = task_for(request.kind)
    try:
        if broker_url not in _CELERY_APPS:
            _CELERY_APPS[broker_url] = Celery("krstock-api", broker=broker_url)
        _CELERY_APPS[broker_url].send_task(
            str(task), kwargs=request.task_kwargs(), queue=str(queue_for(task))
        )
    except Exception as exc:
        _mark(
            engine,
            str(request.run_id),
            status="FAILED",
            error=f"could not enqueue: {exc}",
            finished_at=datetime.now(UTC),
        )
        raise ApiError(503, f"the task queue is unavailable: {type(exc).__name__}") from exc


def run_as_dict(run: ScanRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "kind": run.kind,
        "scan_date": run.scan_date.isoformat() if run.scan_date else None,
        "status": run.status,
        "progress": run.progress,
        "counts": run.counts,
        "params": run.params,
        "error": run.error,
        "policy_name": run.policy_name,
        "scanjob": run.scanjob,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
