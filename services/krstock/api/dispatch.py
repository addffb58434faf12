"""Starting runs from the API: a ``scan_runs`` row first (so the caller gets its id), then the work.

``dispatch_mode=celery`` enqueues the task by NAME (``send_task``; the API never imports worker
internals). ``dispatch_mode=local`` (laptop, demo, tests) runs ``krstock.app.runs.<function>`` in a
background thread of this process. Either way progress and outcome land in ``scan_runs``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from krstock.api.errors import ApiError
from krstock.config import get_settings
from krstock.db.models import DailyPrice, ScanRun

log = logging.getLogger("krstock.api.dispatch")


_DAY_ARGS_DEFAULT = ("scan_date", "policy_name")


@dataclass(frozen=True)
class RunKind:
    record_kind: str  # scan_runs.kind, spelled as the worker and krstock.app spell it
    function: str | None  # in krstock.app.runs (None: composed here, see _run_pipeline)
    task: str  # Celery task name
    fixed: tuple[tuple[str, Any], ...] = ()  # arguments implied by the kind
    task_args: tuple[str, ...] = _DAY_ARGS_DEFAULT  # what the task accepts


_SCAN_ARGS = ("kind", "scan_date", "policy_name", "markets", "tickers", "top_n")
_DAY_ARGS = ("scan_date", "policy_name")
# task_args: the keyword arguments each worker task accepts (krstock.worker.tasks signatures).
RUN_KINDS: dict[str, RunKind] = {
    "vcp": RunKind("vcp", "run_scan", "krstock.run_scan", (("kind", "vcp"),), _SCAN_ARGS),
    "vcp_legacy": RunKind(
        "vcp-legacy", "run_scan", "krstock.run_scan", (("kind", "vcp-legacy"),), _SCAN_ARGS
    ),
    "trend_template": RunKind(
        "trend-template",
        "run_scan",
        "krstock.run_scan",
        (("kind", "trend-template"),),
        _SCAN_ARGS,
    ),
    "closing_bet": RunKind(
        "closing-bet", "run_scan", "krstock.run_scan", (("kind", "closing-bet"),), _SCAN_ARGS
    ),
    "market_gate": RunKind("market-gate", "run_market_gate", "krstock.run_market_gate"),
    "collect": RunKind(
        "collect",
        "run_collect",
        "krstock.run_collect",
        (),
        ("scan_date", "start", "end", "source", "tickers", "source_options"),
    ),
    "track": RunKind("track", "run_track", "krstock.run_track", (), _DAY_ARGS),
    "analyze": RunKind("ai-analysis", "run_analysis", "krstock.run_analyze", (), ("scan_date",)),
    "pipeline": RunKind(
        "pipeline",
        None,
        "krstock.run_pipeline",
        (),
        ("scan_date", "source", "scans", "collect_days", "source_options", "force"),
    ),
    "backtest": RunKind(
        "backtest",
        "run_backtest",
        "krstock.run_backtest",
        (),
        ("strategy", "start", "end", "policy_name"),
    ),
}


def extra_params(kind: str) -> tuple[str, ...]:
    """The ``params`` keys a caller may pass for ``kind`` (beyond date, policy and scanjob)."""
    spec = RUN_KINDS[kind]
    return tuple(a for a in spec.task_args if a not in {"kind", "scan_date", "policy_name"})


ACTIVE = ("PENDING", "RUNNING")
# One producer app per broker URL (its connection pool is reused across requests).
_CELERY_APPS: dict[str | None, Any] = {}
STALE_AFTER = timedelta(hours=2)
# The local pipeline: the same steps, in the same order, as the worker's daily canvas.
PIPELINE_STEPS = ("market_gate", "vcp_legacy", "vcp", "closing_bet", "analyze", "track")


def kind_aliases(kind: str) -> tuple[str, ...]:
    """Every spelling of a run kind in scan_runs (API name, worker name, dash/underscore)."""
    spec = RUN_KINDS.get(kind)
    names = {kind, kind.replace("_", "-"), kind.replace("-", "_")}
    if spec is not None:
        names.add(spec.record_kind)
    if kind == "analyze":
        names.add("analysis")
    return tuple(sorted(names))


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


def _call_kwargs(function: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Only the keyword arguments ``function`` accepts (unless it takes ``**kwargs``)."""
    params = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def _mark(engine: Engine, run_id: str, **values: Any) -> None:
    with Session(engine) as session:
        session.execute(update(ScanRun).where(ScanRun.id == run_id).values(**values))
        session.commit()


def latest_data_day(engine: Engine) -> date:
    """The newest day with prices (what a scan without a date runs on); today when empty."""
    with Session(engine) as session:
        day = session.scalar(select(func.max(DailyPrice.date)))
    return day or datetime.now(UTC).date()


def _local_kwargs(engine: Engine, kwargs: dict[str, Any]) -> dict[str, Any]:
    """krstock.app.runs arguments: ``day`` (and ``start``/``end`` for collect)."""
    out = {
        k: date.fromisoformat(v) if k in ("start", "end") and isinstance(v, str) else v
        for k, v in kwargs.items()
    }
    day = out.pop("scan_date", None) or latest_data_day(engine)
    out["day"] = day
    out.setdefault("start", day)
    out.setdefault("end", day)
    if "policy_name" in out:
        out["policy"] = out.pop("policy_name")
    # Collection reads from the configured market source (the demo's synthetic market, KRX, ...).
    out.setdefault("source", get_settings().market_source)
    return out


def _run_function(engine: Engine, spec: RunKind, run_id: str, kwargs: dict[str, Any]) -> None:
    runs = importlib.import_module("krstock.app.runs")
    function = getattr(runs, spec.function or "")
    function(engine, **_call_kwargs(function, {"run_id": run_id, **_local_kwargs(engine, kwargs)}))


def _run_pipeline(engine: Engine, run_id: str, kwargs: dict[str, Any]) -> None:
    """Gate → scans → analysis → tracking in this process; the pipeline row tracks the steps."""
    _mark(engine, run_id, status="RUNNING", started_at=datetime.now(UTC))
    counts: dict[str, Any] = {}
    for i, step in enumerate(PIPELINE_STEPS):
        spec = RUN_KINDS[step]
        step_id = f"{run_id[:40]}-{spec.record_kind}"
        step_kwargs = {**dict(spec.fixed), **kwargs}
        try:
            _run_function(engine, spec, step_id, step_kwargs)
            counts[step] = "SUCCEEDED"
        except Exception as exc:
            counts[step] = f"FAILED: {type(exc).__name__}"
            _mark(
                engine,
                run_id,
                status="FAILED",
                counts=counts,
                error=f"{step}: {type(exc).__name__}: {exc}"[:2000],
                finished_at=datetime.now(UTC),
            )
            return
        _mark(engine, run_id, progress=round((i + 1) / len(PIPELINE_STEPS) * 100, 1), counts=counts)
    _mark(engine, run_id, status="SUCCEEDED", progress=100.0, finished_at=datetime.now(UTC))


def _run_locally(engine: Engine, spec: RunKind, run_id: str, kwargs: dict[str, Any]) -> None:
    try:
        if spec.function is None:
            _run_pipeline(engine, run_id, kwargs)
            return
        _run_function(engine, spec, run_id, kwargs)
    except (ImportError, AttributeError) as exc:
        _mark(
            engine,
            run_id,
            status="FAILED",
            error=f"krstock.app.runs.{spec.function} is not available: {exc}",
            finished_at=datetime.now(UTC),
        )
        return
    except Exception as exc:
        log.exception("run failed", extra={"run_id": run_id})
        _mark(engine, run_id, status="FAILED", error=str(exc)[:2000], finished_at=datetime.now(UTC))
        return
    # The run function owns its row; if it left it unfinished, close it here.
    with Session(engine) as session:
        row = session.get(ScanRun, run_id)
        if row is not None and row.status in ACTIVE:
            row.status = "SUCCEEDED"
            row.progress = 100.0
            row.finished_at = datetime.now(UTC)
            session.commit()


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
    spec = RUN_KINDS.get(kind)
    if spec is None:
        raise ApiError(400, f"unknown run kind {kind!r}; use one of {', '.join(RUN_KINDS)}")
    params = dict(params or {})
    with Session(engine) as session:
        if reject_if_busy:
            busy = active_run(session, kind)
            if busy is not None:
                raise ApiError(
                    409,
                    f"a {kind} run is already {busy.status.lower()} (id {busy.id})",
                    "already_running",
                    extra={"run_id": busy.id},
                )
        run = ScanRun(
            id=uuid.uuid4().hex,
            kind=spec.record_kind,
            scan_date=scan_date,
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
    kwargs: dict[str, Any] = dict(spec.fixed)
    kwargs.update(params)
    if scan_date is not None:
        kwargs["scan_date"] = scan_date
    if policy_name:
        kwargs["policy_name"] = policy_name
    if mode == "celery":
        _enqueue(engine, spec, run.id, kwargs, broker_url)
    elif wait:
        _run_locally(engine, spec, run.id, kwargs)
    else:
        _start_local(engine, spec, run.id, kwargs)
    return run


# In-process runs by engine (one per app), so that an app stopping can wait for its own runs.
_LOCAL_RUNS: dict[Engine, dict[str, threading.Thread]] = {}
_LOCAL_LOCK = threading.Lock()
INTERRUPTED = "interrupted: the service stopped before the run finished"


def _start_local(engine: Engine, spec: RunKind, run_id: str, kwargs: dict[str, Any]) -> None:
    def tracked() -> None:
        try:
            _run_locally(engine, spec, run_id, kwargs)
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


def _enqueue(
    engine: Engine, spec: RunKind, run_id: str, kwargs: dict[str, Any], broker_url: str | None
) -> None:
    from celery import Celery

    # The routing table is the worker package's public contract for enqueuers (names only).
    from krstock.worker.routing import queue_for

    allowed = {"run_id", *spec.task_args}
    payload = {k: _jsonable(v) for k, v in {"run_id": run_id, **kwargs}.items() if k in allowed}
    try:
        if broker_url not in _CELERY_APPS:
            _CELERY_APPS[broker_url] = Celery("krstock-api", broker=broker_url)
        _CELERY_APPS[broker_url].send_task(spec.task, kwargs=payload, queue=queue_for(spec.task))
    except Exception as exc:
        _mark(
            engine,
            run_id,
            status="FAILED",
            error=f"could not enqueue: {exc}",
            finished_at=datetime.now(UTC),
        )
        raise ApiError(503, f"the task queue is unavailable: {type(exc).__name__}") from exc


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


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
