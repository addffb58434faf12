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

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from krstock.api.errors import ApiError
from krstock.db.models import ScanRun

log = logging.getLogger("krstock.api.dispatch")


@dataclass(frozen=True)
class RunKind:
    function: str  # in krstock.app.runs
    task: str  # Celery task name
    fixed: tuple[tuple[str, Any], ...] = ()  # arguments implied by the kind


RUN_KINDS: dict[str, RunKind] = {
    "vcp": RunKind("run_scan", "krstock.run_scan", (("kind", "vcp"),)),
    "vcp_legacy": RunKind("run_scan", "krstock.run_scan", (("kind", "vcp-legacy"),)),
    "trend_template": RunKind("run_scan", "krstock.run_scan", (("kind", "trend-template"),)),
    "closing_bet": RunKind("run_scan", "krstock.run_scan", (("kind", "closing-bet"),)),
    "market_gate": RunKind("run_market_gate", "krstock.run_market_gate"),
    "collect": RunKind("run_collect", "krstock.run_collect"),
    "track": RunKind("run_track", "krstock.run_track"),
    "analyze": RunKind("run_analyze", "krstock.run_analyze"),
    "pipeline": RunKind("run_pipeline", "krstock.run_pipeline"),
    "backtest": RunKind("run_backtest", "krstock.run_backtest"),
}
ACTIVE = ("PENDING", "RUNNING")
STALE_AFTER = timedelta(hours=2)


def active_run(session: Session, kind: str) -> ScanRun | None:
    """A run of ``kind`` still pending or running (ignoring ones abandoned long ago)."""
    since = datetime.now(UTC) - STALE_AFTER
    return session.scalars(
        select(ScanRun)
        .where(ScanRun.kind == kind, ScanRun.status.in_(ACTIVE), ScanRun.created_at >= since)
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


def _run_locally(engine: Engine, spec: RunKind, run_id: str, kwargs: dict[str, Any]) -> None:
    try:
        runs = importlib.import_module("krstock.app.runs")
        function = getattr(runs, spec.function)
    except (ImportError, AttributeError) as exc:
        _mark(
            engine,
            run_id,
            status="FAILED",
            error=f"krstock.app.runs.{spec.function} is not available: {exc}",
            finished_at=datetime.now(UTC),
        )
        return
    try:
        function(**_call_kwargs(function, {"run_id": run_id, **kwargs}))
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
            kind=kind,
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
        threading.Thread(
            target=_run_locally, args=(engine, spec, run.id, kwargs), daemon=True
        ).start()
    return run


def _enqueue(
    engine: Engine, spec: RunKind, run_id: str, kwargs: dict[str, Any], broker_url: str | None
) -> None:
    from celery import Celery

    # The routing table is the worker package's public contract for enqueuers (names only).
    from krstock.worker.routing import queue_for

    payload = {"run_id": run_id, **{k: _jsonable(v) for k, v in kwargs.items()}}
    try:
        Celery("krstock-api", broker=broker_url).send_task(
            spec.task, kwargs=payload, queue=queue_for(spec.task)
        )
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
