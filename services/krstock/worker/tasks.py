"""Celery tasks: the worker's door into ``krstock.app.runs``.

Each task turns its keyword arguments into a :class:`~krstock.app.runs.RunRequest`, runs it
through :func:`execute_run` (idempotent by run id, a lock per kind and date, live progress) and
announces the outcome on the bus. Retries happen only for transient errors (database/Redis
connection, a busy lock, an unreachable market source), with exponential backoff and jitter;
anything else fails the task at once and the run row says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import httpx
import redis
from celery import chain, group, shared_task
from celery.canvas import Signature
from sqlalchemy.exc import InterfaceError, OperationalError

from krstock.app import runs
from krstock.app.kinds import (
    DEFAULT_SCANS,
    SCAN_KINDS,
    RunKind,
    Task,
    daily_steps,
    new_run_id,
    parse_kind,
    step_run_id,
)
from krstock.app.recorder import record_run, run_status
from krstock.app.runs import RunRequest, Universe
from krstock.bus.broker import BrokerUnavailable
from krstock.bus.events import Event
from krstock.config import get_settings
from krstock.domain.calendar import KrxCalendar, kst_now
from krstock.marketdata.base import SourceError
from krstock.worker import run_events
from krstock.worker.context import WorkerContext, get_context
from krstock.worker.execution import ProgressPublisher, advance_pipeline, execute_run
from krstock.worker.locks import LockBusy
from krstock.worker.ratelimit import TokenBucket
from krstock.worker.schedules import default_jobs, plan_job

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
    BrokerUnavailable,
    LockBusy,
    SourceError,
    httpx.TransportError,
)

_pipeline = get_settings().worker
RETRY_OPTIONS: dict[str, Any] = {
    "bind": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": _pipeline.retry_backoff_max_s,
    "retry_jitter": True,
    "max_retries": _pipeline.max_retries,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


def parse_day(value: Any, *, name: str = "day") -> date:
    """A task's date argument: ISO ``YYYY-MM-DD`` or ``today`` (in KST)."""
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        if value == "today":
            return kst_now().date()
        try:
            return date.fromisoformat(value[:10])
        except ValueError as exc:
            raise ValueError(f"{name} {value!r} is not an ISO date (YYYY-MM-DD)") from exc
    raise ValueError(f"{name} is required (YYYY-MM-DD)")


def _ctx() -> WorkerContext:
    return get_context()


def krx_calendar(ctx: WorkerContext) -> KrxCalendar:
    """The KRX calendar with the corrections configured for this deployment."""
    worker = ctx.settings.worker
    return KrxCalendar(worker.krx_extra_holidays, worker.krx_extra_trading_days)


# How far along the daily pipeline is once a step has finished (parallel scans raise it in turn).
STEP_PERCENT: dict[RunKind, float] = {
    RunKind.COLLECT: 20.0,
    RunKind.MARKET_GATE: 30.0,
    RunKind.VCP: 45.0,
    RunKind.VCP_LEGACY: 55.0,
    RunKind.TREND_TEMPLATE: 60.0,
    RunKind.CLOSING_BET: 65.0,
    RunKind.ANALYSIS: 80.0,
    RunKind.TRACK: 95.0,
}


def lock_name(request: RunRequest) -> str:
    """Runs that must not overlap share a lock: one per kind and day (per range and source for
    collection, per strategy, range and policy for backtests)."""
    match request.kind:
        case RunKind.COLLECT:
            return f"collect:{request.source}:{request.start}:{request.day}"
        case RunKind.BACKTEST:
            policy = request.policy or "default"
            return f"backtest:{request.strategy}:{request.start}:{request.day}:{policy}"
        case RunKind.VCP | RunKind.VCP_LEGACY | RunKind.TREND_TEMPLATE | RunKind.CLOSING_BET:
            return f"scan:{request.kind}:{request.day}"
    return f"{request.kind}:{request.day}"


def _events(request: RunRequest, pipeline_id: str | None) -> Callable[[dict], list[Event]] | None:
    run_id, day = str(request.run_id), request.required_day()
    match request.kind:
        case RunKind.COLLECT:
            start = request.start or day
            return run_events.collect_events(run_id, start, day, str(request.source), pipeline_id)
        case RunKind.MARKET_GATE:
            return run_events.gate_events(run_id, day, pipeline_id)
        case RunKind.VCP | RunKind.VCP_LEGACY | RunKind.TREND_TEMPLATE | RunKind.CLOSING_BET:
            return run_events.scan_events(run_id, request.kind, day, pipeline_id)
        case RunKind.ANALYSIS:
            return run_events.analysis_events(run_id, day, pipeline_id)
        case RunKind.TRACK:
            return run_events.track_events(run_id, day, pipeline_id)
    return None


def _run(ctx: WorkerContext, request: RunRequest, pipeline_id: str | None = None) -> dict:
    """``request`` run once under ``execute_run`` (lock, status, progress, events); as a step
    of a pipeline, the pipeline is told it is done."""
    request = request.with_run_id()
    summary = execute_run(
        ctx,
        run_id=str(request.run_id),
        kind=request.kind,
        lock_name=lock_name(request),
        runner=lambda progress: runs.run(ctx.engine, request, progress),
        events_for=_events(request, pipeline_id),
    )
    step = request.kind
    if pipeline_id and step in STEP_PERCENT and not summary.get("skipped"):
        advance_pipeline(ctx, pipeline_id, step, STEP_PERCENT[step])
    return summary


# Tasks ----------------------------------------------------------------------------------------
@shared_task(name=Task.COLLECT, **RETRY_OPTIONS)
def run_collect(
    self: Any,
    *,
    start: str | None = None,
    end: str | None = None,
    day: str | None = None,
    source: str | None = None,
    tickers: list[str] | None = None,
    source_options: dict[str, Any] | None = None,
    run_id: str | None = None,
    pipeline_id: str | None = None,
) -> dict[str, Any]:
    """Collect market data for [start, end] (or one ``day``) from ``source``."""
    ctx = _ctx()
    start_d = parse_day(start or day, name="start")
    end_d = parse_day(end or day or start, name="end")
    if end_d < start_d:
        raise ValueError(f"end {end_d} is before start {start_d}")
    request = RunRequest(
        RunKind.COLLECT,
        day=end_d,
        start=start_d,
        source=source or ctx.settings.worker.default_source or ctx.settings.market_source,
        universe=Universe.of(tickers=tickers),
        source_options=source_options,
        run_id=run_id,
    )
    return _run(ctx, request, pipeline_id)


@shared_task(name=Task.MARKET_GATE, **RETRY_OPTIONS)
def run_market_gate(
    self: Any,
    *,
    day: str | None = None,
    policy: str | None = None,
    run_id: str | None = None,
    pipeline_id: str | None = None,
) -> dict[str, Any]:
    """The Market Gate for one day."""
    request = RunRequest(RunKind.MARKET_GATE, day=parse_day(day), policy=policy, run_id=run_id)
    return _run(_ctx(), request, pipeline_id)


@shared_task(name=Task.SCAN, **RETRY_OPTIONS)
def run_scan(
    self: Any,
    *,
    kind: str,
    day: str | None = None,
    policy: str | None = None,
    run_id: str | None = None,
    pipeline_id: str | None = None,
    markets: list[str] | str | None = None,
    tickers: list[str] | str | None = None,
    top_n: int | str | None = None,
) -> dict[str, Any]:
    """One scan (vcp, vcp-legacy, trend-template, closing-bet) over the universe for a day,
    or over a narrower one (a ScanJob's markets, tickers and top N by trading value)."""
    request = RunRequest(
        parse_kind(kind, SCAN_KINDS, what="scan kind"),
        day=parse_day(day),
        policy=policy,
        universe=Universe.of(markets, tickers, top_n),
        run_id=run_id,
    )
    return _run(_ctx(), request, pipeline_id)


@shared_task(name=Task.TRACK, **RETRY_OPTIONS)
def run_track(
    self: Any,
    *,
    day: str | None = None,
    policy: str | None = None,
    run_id: str | None = None,
    pipeline_id: str | None = None,
) -> dict[str, Any]:
    """Mark open signals to market and close them by rule."""
    request = RunRequest(RunKind.TRACK, day=parse_day(day), policy=policy, run_id=run_id)
    return _run(_ctx(), request, pipeline_id)


def llm_rate_limiter(ctx: WorkerContext) -> TokenBucket:
    """The bucket every worker shares for LLM requests (``KRSTOCK_LLM_RATE_PER_S``, default 1/s)."""
    return TokenBucket(
        ctx.redis,
        "llm",
        rate_per_s=ctx.settings.ai.llm_rate_per_s,
        prefix=ctx.settings.worker.redis_prefix,
    )


def krx_rate_limiter(ctx: WorkerContext) -> TokenBucket:
    """The bucket every worker shares for KRX requests (``KRSTOCK_KRX_RATE_PER_S``)."""
    return TokenBucket(
        ctx.redis,
        "krx",
        rate_per_s=ctx.settings.worker.krx_rate_per_s,
        prefix=ctx.settings.worker.redis_prefix,
    )


@shared_task(name=Task.ANALYZE, **RETRY_OPTIONS)
def run_analyze(
    self: Any,
    *,
    day: str | None = None,
    run_id: str | None = None,
    pipeline_id: str | None = None,
    force: bool | None = None,
) -> dict[str, Any]:
    """AI analysis of the day's top signals (``force``: ask the LLM again, no cache)."""
    request = RunRequest(RunKind.ANALYSIS, day=parse_day(day), run_id=run_id, force=bool(force))
    return _run(_ctx(), request, pipeline_id)


@shared_task(name=Task.BACKTEST, **RETRY_OPTIONS)
def run_backtest(
    self: Any,
    *,
    strategy: str,
    start: str,
    end: str,
    policy: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """A backtest of ``strategy`` over [start, end]."""
    request = RunRequest.parse(
        RunKind.BACKTEST,
        strategy=strategy,
        start=parse_day(start, name="start"),
        end=parse_day(end, name="end"),
        policy=policy,
        run_id=run_id,
    )
    return _run(_ctx(), request)


# The daily pipeline ---------------------------------------------------------------------------
def daily_pipeline(
    day: date,
    *,
    pipeline_id: str,
    source: str | None = None,
    scans: tuple[str, ...] = DEFAULT_SCANS,
    collect_days: int = 1,
    tickers: list[str] | None = None,
    source_options: dict[str, Any] | None = None,
) -> Signature:
    """collect → market gate → scans (in parallel) → analysis → tracking → done, as one canvas."""
    if collect_days < 1:
        raise ValueError("collect_days must be at least 1")
    iso = day.isoformat()
    start = runs.collect_start(day, collect_days).isoformat()
    scan_kinds = tuple(parse_kind(k, SCAN_KINDS, what="scan kind") for k in scans)

    def ids(step: RunKind) -> dict[str, str]:
        return {"run_id": step_run_id(pipeline_id, step), "pipeline_id": pipeline_id}

    steps: list[Signature] = [
        run_collect.si(
            start=start,
            end=iso,
            source=source,
            tickers=tickers,
            source_options=source_options,
            **ids(RunKind.COLLECT),
        ),
        run_market_gate.si(day=iso, **ids(RunKind.MARKET_GATE)),
    ]
    scan_sigs = [run_scan.si(kind=str(k), day=iso, **ids(k)) for k in scan_kinds]
    if scan_sigs:
        steps.append(group(scan_sigs) if len(scan_sigs) > 1 else scan_sigs[0])
    steps += [
        run_analyze.si(day=iso, **ids(RunKind.ANALYSIS)),
        run_track.si(day=iso, **ids(RunKind.TRACK)),
        pipeline_step_done.si(pipeline_id=pipeline_id, day=iso, scans=[str(k) for k in scan_kinds]),
    ]
    canvas = chain(*steps)
    canvas.link_error(pipeline_failed.s(pipeline_id=pipeline_id))
    return canvas


def pipeline_counts(ctx: WorkerContext, pipeline_id: str, scans: list[str]) -> dict[str, Any]:
    """The status and counts of every step run, from scan_runs."""
    steps: dict[str, Any] = {}
    for step in daily_steps(tuple(parse_kind(k, SCAN_KINDS, what="scan kind") for k in scans)):
        state = run_status(ctx.engine, step_run_id(pipeline_id, step))
        steps[step] = {"status": state[0], "counts": state[1]} if state else {"status": None}
    return steps


@shared_task(name=Task.PIPELINE_STEP_DONE, **RETRY_OPTIONS)
def pipeline_step_done(
    self: Any, *, pipeline_id: str, day: str, scans: list[str]
) -> dict[str, Any]:
    """The last link: the pipeline row becomes SUCCEEDED with every step's counts."""
    ctx = _ctx()
    steps = pipeline_counts(ctx, pipeline_id, scans)
    record_run(
        ctx.engine,
        pipeline_id,
        kind=RunKind.PIPELINE,
        status="SUCCEEDED",
        day=parse_day(day),
        progress=100.0,
        counts={"steps": steps},
    )
    ProgressPublisher(ctx, pipeline_id, RunKind.PIPELINE).publish(
        "SUCCEEDED", 100.0, "daily pipeline finished"
    )
    return {"run_id": pipeline_id, "status": "SUCCEEDED", "day": day, "steps": steps}


@shared_task(name=Task.PIPELINE_FAILED)
def pipeline_failed(request: Any, exc: Any, traceback: Any, *, pipeline_id: str) -> None:
    """Errback of the canvas: the pipeline row becomes FAILED with the failing step's error.

    Not ``bind=True``: Celery calls an errback with (request, exc, traceback) in the failing
    worker only when the plain function takes them; a bound one would get just the task id.
    """
    ctx = _ctx()
    task_name = getattr(request, "task", "?")
    error = f"{task_name}: {type(exc).__name__}: {exc}"[:2000]
    record_run(ctx.engine, pipeline_id, kind=RunKind.PIPELINE, status="FAILED", error=error)
    ProgressPublisher(ctx, pipeline_id, RunKind.PIPELINE).publish("FAILED", 100.0, error)


@shared_task(name=Task.PIPELINE, **RETRY_OPTIONS)
def run_pipeline(
    self: Any,
    *,
    day: str | None = None,
    source: str | None = None,
    scans: list[str] | None = None,
    collect_days: int = 1,
    source_options: dict[str, Any] | None = None,
    run_id: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Start the daily pipeline canvas for a trading day (skips closed days unless ``force``)."""
    ctx = _ctx()
    the_day = parse_day(day)
    calendar = krx_calendar(ctx)
    reason = calendar.holiday_reason(the_day)
    if reason is not None and not force:
        return {"status": "SKIPPED", "day": the_day.isoformat(), "reason": reason}
    pipeline_id = run_id or new_run_id(RunKind.PIPELINE, the_day)
    state = run_status(ctx.engine, pipeline_id)
    if state is not None and state[0] == "SUCCEEDED":
        return {"run_id": pipeline_id, "status": "SUCCEEDED", "skipped": "already succeeded"}
    record_run(
        ctx.engine,
        pipeline_id,
        kind=RunKind.PIPELINE,
        status="RUNNING",
        day=the_day,
        progress=0.0,
        params={"source": source, "scans": scans, "collect_days": collect_days},
    )
    canvas = daily_pipeline(
        the_day,
        pipeline_id=pipeline_id,
        source=source,
        scans=tuple(scans) if scans else DEFAULT_SCANS,
        collect_days=collect_days,
        source_options=source_options,
    )
    result = canvas.apply_async()
    return {"run_id": pipeline_id, "status": "RUNNING", "day": the_day.isoformat(), "id": result.id}


@shared_task(name=Task.SCHEDULED, **RETRY_OPTIONS)
def scheduled(self: Any, *, job: str, fired_at: str | None = None) -> dict[str, Any]:
    """What beat and the CronJobs fire: plan the job on the KRX calendar, then enqueue it."""
    ctx = _ctx()
    jobs = default_jobs(ctx.settings.worker)
    if job not in jobs:
        raise ValueError(f"unknown scheduled job {job!r}; known: {', '.join(jobs)}")
    calendar = krx_calendar(ctx)
    plan = plan_job(
        jobs[job],
        kst_now(),
        calendar,
        fired_at=datetime.fromisoformat(fired_at) if fired_at else None,
    )
    log.info("scheduled job", extra={"job": job, "action": plan.action, "reason": plan.reason})
    if plan.action == "skip" or plan.task is None:
        return {"job": job, "action": plan.action, "reason": plan.reason}
    self.app.send_task(plan.task, kwargs=plan.kwargs, countdown=plan.countdown_s or None)
    return {"job": job, "action": plan.action, "reason": plan.reason, "task": plan.task}


@shared_task(name=Task.REFRESH_PRICES, **RETRY_OPTIONS)
def refresh_prices(self: Any) -> dict[str, Any]:
    """The monolith's 5-minute refresher: mark every OPEN signal to market (current price and
    return) from the best source available, during KRX sessions only."""
    from krstock.app.prices import refresh_open_signals
    from krstock.cache import JsonCache, scoped_prefix

    ctx = _ctx()
    calendar = krx_calendar(ctx)
    now = kst_now()
    if not calendar.is_trading_day(now.date()):
        return {"updated": 0, "skipped": "not a KRX trading day"}
    api = ctx.settings.api
    cache = JsonCache(ctx.redis, scoped_prefix(api.cache_prefix, ctx.engine.url))  # as the API's
    updated = refresh_open_signals(ctx.engine, cache)
    return {"updated": updated}


@shared_task(name=Task.DB_MAINTAIN, **RETRY_OPTIONS)
def db_maintain(self: Any) -> dict[str, Any]:
    """``krstock db maintain`` on the maintenance queue: TimescaleDB's aggregate refresh and
    compression jobs in the foreground (nothing to do on plain PostgreSQL). Connects as the
    schema owner (KRSTOCK_MIGRATION_DATABASE_URL) when set: the jobs belong to it."""
    from krstock.db.timescale import run_maintenance

    settings = get_settings()
    url = settings.migration_database_url or settings.database_url
    if not url:
        raise ValueError(
            "no database URL: set KRSTOCK_MIGRATION_DATABASE_URL or KRSTOCK_DATABASE_URL"
        )
    report = run_maintenance(url, kst_now().date())
    failed = [step.as_dict() for step in report.steps if step.error is not None]
    if failed:
        log.error("db maintenance: %d step(s) failed", len(failed), extra={"failed": failed})
    return report.as_dict()
