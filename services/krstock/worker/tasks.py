"""Celery tasks: thin wrappers around ``krstock.app.runs`` (the use cases).

Each wrapper parses its arguments, derives the lock (kind, date), runs the use case through
:func:`execute_run` (idempotent by run id) and turns the summary into events. Retries happen only
for transient errors (database/Redis connection, a busy lock, an unreachable market source), with
exponential backoff and jitter; anything else fails the task at once and the run row says why.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import redis
from celery import chain, group, shared_task
from celery.canvas import Signature
from sqlalchemy.exc import InterfaceError, OperationalError

from krstock.bus.broker import BrokerUnavailable
from krstock.bus.events import (
    AIAnalysisCompleted,
    Event,
    MarketDataUpdated,
    MarketStatusChanged,
    PriceUpdated,
    ScanCompleted,
    SignalCreated,
    VCPSignalDetected,
)
from krstock.marketdata.base import SourceError
from krstock.worker.calendar import KrxCalendar, kst_now
from krstock.worker.context import WorkerContext, get_context
from krstock.worker.execution import (
    ProgressFn,
    ProgressPublisher,
    advance_pipeline,
    event_id_for,
    execute_run,
    new_run_id,
    record_run,
    run_status,
)
from krstock.worker.locks import LockBusy
from krstock.worker.ratelimit import TokenBucket
from krstock.worker.routing import normalize_scan_kind
from krstock.worker.schedules import default_jobs, plan_job
from krstock.worker.settings import get_pipeline_settings

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

DEFAULT_SCANS = ("vcp", "vcp-legacy", "closing-bet")

_pipeline = get_pipeline_settings()
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


class RunsUnavailable(RuntimeError):
    """``krstock.app.runs`` (the use-case layer) does not provide the function."""


def runs_function(name: str) -> Callable[..., dict[str, Any]]:
    try:
        module = importlib.import_module("krstock.app.runs")
    except ModuleNotFoundError as exc:
        raise RunsUnavailable(f"krstock.app.runs is not installed: {exc}") from exc
    function = getattr(module, name, None)
    if function is None:
        raise RunsUnavailable(f"krstock.app.runs.{name} does not exist")
    return function  # type: ignore[no-any-return]


def call_use_case(name: str, engine: Any, progress: ProgressFn, **kwargs: Any) -> dict[str, Any]:
    """Call ``krstock.app.runs.<name>`` with the keyword arguments it accepts."""
    function = runs_function(name)
    params = inspect.signature(function).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = [k for k, v in kwargs.items() if k not in params and v is not None]
        if unknown:
            raise TypeError(f"krstock.app.runs.{name} does not accept {unknown}")
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return function(engine, progress=progress, **kwargs)


def parse_day(value: Any, *, name: str = "day") -> date:
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


def _day_arg(day: Any, scan_date: Any) -> date:
    return parse_day(day if day is not None else scan_date)


def _policy_kwargs(policy_name: str | None) -> dict[str, Any]:
    """The use cases take ``policy``: a preset name or a policy file path (None: monolith)."""
    return {"policy": policy_name} if policy_name else {}


def _ctx() -> WorkerContext:
    return get_context()


# How far along the daily pipeline is once a step has finished (parallel scans raise it in turn).
STEP_PERCENT = {
    "collect": 20.0,
    "market-gate": 30.0,
    "vcp": 45.0,
    "vcp-legacy": 55.0,
    "trend-template": 60.0,
    "closing-bet": 65.0,
    "analysis": 80.0,
    "track": 95.0,
}


def _step_done(
    ctx: WorkerContext, pipeline_id: str | None, step: str, summary: dict[str, Any]
) -> dict[str, Any]:
    if pipeline_id and not summary.get("skipped"):  # a redelivery already reported it
        advance_pipeline(ctx, pipeline_id, step, STEP_PERCENT[step])
    return summary


def _run_use_case(
    ctx: WorkerContext,
    use_case: str,
    *,
    run_kind: str,
    run_id: str,
    lock_name: str,
    events_for: Callable[[dict[str, Any]], list[Event]] | None = None,
    step: str | None = None,
    pipeline_id: str | None = None,
    **arguments: Any,
) -> dict[str, Any]:
    """``use_case`` run once under ``execute_run`` (lock, status, progress, events; the run
    is recorded as ``run_kind``) with ``run_id`` and ``arguments``; as a pipeline ``step``, the
    pipeline is told it is done."""
    summary = execute_run(
        ctx,
        run_id=run_id,
        kind=run_kind,
        lock_name=lock_name,
        runner=lambda progress: call_use_case(
            use_case, ctx.engine, progress, run_id=run_id, **arguments
        ),
        events_for=events_for,
    )
    return summary if step is None else _step_done(ctx, pipeline_id, step, summary)


# Events from summaries ------------------------------------------------------------------------
def _int_counts(summary: dict[str, Any]) -> dict[str, int]:
    """Numeric counts of a summary: its ``counts`` (or ``tables``) mapping, else its top level."""
    counts = summary.get("counts") or summary.get("tables") or summary
    out: dict[str, int] = {}
    for key, value in counts.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            out[key] = int(value)
        elif isinstance(value, dict):  # e.g. per-table {"rows": n, ...}
            for sub, number in value.items():
                if isinstance(number, int | float) and not isinstance(number, bool):
                    out[f"{key}.{sub}"] = int(number)
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def collect_events(
    run_id: str, start: date, end: date, source: str, pipeline_id: str | None
) -> Callable[[dict[str, Any]], list[Event]]:
    def build(summary: dict[str, Any]) -> list[Event]:
        return [
            MarketDataUpdated(
                event_id=event_id_for(run_id, "MarketDataUpdated"),
                run_id=run_id,
                pipeline_id=pipeline_id,
                start=start,
                end=end,
                source=str(summary.get("source") or source),
                counts=_int_counts(summary),
            )
        ]

    return build


def gate_events(
    run_id: str, day: date, pipeline_id: str | None
) -> Callable[[dict[str, Any]], list[Event]]:
    def build(summary: dict[str, Any]) -> list[Event]:
        nested = summary.get("gate")
        gate: dict[str, Any] = nested if isinstance(nested, dict) else summary
        status = gate.get("status")
        previous = summary.get("previous_status")
        changed = summary.get("changed", status != previous)
        # The first gate ever (no previous colour) counts as a change.
        if status is None or not (changed or previous is None):
            return []
        score = gate.get("score")
        return [
            MarketStatusChanged(
                event_id=event_id_for(run_id, "MarketStatusChanged"),
                run_id=run_id,
                pipeline_id=pipeline_id,
                day=day,
                status=str(status),
                previous_status=previous,
                score=float(score) if isinstance(score, int | float) else None,
            )
        ]

    return build


def scan_events(
    run_id: str, kind: str, day: date, pipeline_id: str | None
) -> Callable[[dict[str, Any]], list[Event]]:
    def build(summary: dict[str, Any]) -> list[Event]:
        signals = [s for s in summary.get("signals") or [] if isinstance(s, dict)]
        events: list[Event] = []
        strategy = str(summary.get("strategy") or kind)
        for item in signals:
            ticker = str(item.get("ticker"))
            events.append(
                SignalCreated(
                    # Keyed by the signal's natural key, not the run: a re-scan of the same day
                    # does not announce the same signal twice.
                    event_id=event_id_for(f"{strategy}:{day.isoformat()}", "SignalCreated", ticker),
                    run_id=run_id,
                    pipeline_id=pipeline_id,
                    day=day,
                    strategy=strategy,
                    ticker=ticker,
                    signal_id=item.get("id") or item.get("signal_id"),
                    grade=item.get("grade"),
                    score=_number(item.get("score", item.get("total_score"))),
                    entry_price=_number(item.get("entry_price")),
                )
            )
        if kind.startswith("vcp") and signals:
            events.append(
                VCPSignalDetected(
                    event_id=event_id_for(run_id, "VCPSignalDetected"),
                    run_id=run_id,
                    pipeline_id=pipeline_id,
                    day=day,
                    strategy=strategy,
                    tickers=[str(s.get("ticker")) for s in signals],
                    count=len(signals),
                )
            )
        events.append(
            ScanCompleted(
                event_id=event_id_for(run_id, "ScanCompleted"),
                run_id=run_id,
                pipeline_id=pipeline_id,
                day=day,
                kind=kind,
                status="SUCCEEDED",
                counts=_int_counts(summary),
            )
        )
        return events

    return build


def analysis_events(
    run_id: str, day: date, pipeline_id: str | None
) -> Callable[[dict[str, Any]], list[Event]]:
    def build(summary: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        for item in summary.get("analyses") or []:
            if not isinstance(item, dict) or not item.get("ticker"):
                continue
            events.append(
                AIAnalysisCompleted(
                    event_id=event_id_for(run_id, "AIAnalysisCompleted", str(item["ticker"])),
                    run_id=run_id,
                    pipeline_id=pipeline_id,
                    day=day,
                    ticker=str(item["ticker"]),
                    signal_id=item.get("signal_id"),
                    analysis_source=str(
                        item.get("analysis_source") or summary.get("analysis_source")
                    ),
                    action=item.get("action"),
                    confidence=item.get("confidence"),
                )
            )
        return events

    return build


def track_events(
    run_id: str, day: date, pipeline_id: str | None
) -> Callable[[dict[str, Any]], list[Event]]:
    def build(summary: dict[str, Any]) -> list[Event]:
        counts = _int_counts(summary)
        tickers = counts.get("open_before", counts.get("updated", 0))
        return [
            PriceUpdated(
                event_id=event_id_for(run_id, "PriceUpdated"),
                run_id=run_id,
                pipeline_id=pipeline_id,
                day=day,
                tickers=tickers,
            )
        ]

    return build


# Tasks ----------------------------------------------------------------------------------------
@shared_task(name="krstock.run_collect", **RETRY_OPTIONS)
def run_collect(
    self: Any,
    *,
    start: str | None = None,
    end: str | None = None,
    day: str | None = None,
    scan_date: str | None = None,
    source: str | None = None,
    tickers: list[str] | None = None,
    source_options: dict[str, Any] | None = None,
    run_id: str | None = None,
    pipeline_id: str | None = None,
) -> dict[str, Any]:
    """Collect market data for [start, end] (or one day) from ``source``."""
    ctx = _ctx()
    one_day = day or scan_date
    start_d = parse_day(start or one_day, name="start")
    end_d = parse_day(end or one_day or start, name="end")
    if end_d < start_d:
        raise ValueError(f"end {end_d} is before start {start_d}")
    source = source or ctx.pipeline.default_source or ctx.settings.market_source
    run_id = run_id or new_run_id("collect", end_d)
    return _run_use_case(
        ctx,
        "run_collect",
        run_kind="collect",
        run_id=run_id,
        lock_name=f"collect:{source}:{start_d}:{end_d}",
        events_for=collect_events(run_id, start_d, end_d, source, pipeline_id),
        step="collect",
        pipeline_id=pipeline_id,
        start=start_d,
        end=end_d,
        source=source,
        tickers=tickers,
        source_options=source_options,
    )


@shared_task(name="krstock.run_market_gate", **RETRY_OPTIONS)
def run_market_gate(
    self: Any,
    *,
    day: str | None = None,
    scan_date: str | None = None,
    policy_name: str | None = None,
    run_id: str | None = None,
    pipeline_id: str | None = None,
) -> dict[str, Any]:
    """The Market Gate for one day."""
    ctx = _ctx()
    the_day = _day_arg(day, scan_date)
    run_id = run_id or new_run_id("gate", the_day)
    return _run_use_case(
        ctx,
        "run_market_gate",
        run_kind="market-gate",
        run_id=run_id,
        lock_name=f"market-gate:{the_day}",
        events_for=gate_events(run_id, the_day, pipeline_id),
        step="market-gate",
        pipeline_id=pipeline_id,
        day=the_day,
        **_policy_kwargs(policy_name),
    )


@shared_task(name="krstock.run_scan", **RETRY_OPTIONS)
def run_scan(
    self: Any,
    *,
    kind: str,
    day: str | None = None,
    scan_date: str | None = None,
    policy_name: str | None = None,
    run_id: str | None = None,
    pipeline_id: str | None = None,
    markets: list[str] | str | None = None,
    tickers: list[str] | str | None = None,
    top_n: int | str | None = None,
) -> dict[str, Any]:
    """One scan (vcp, vcp-legacy, trend-template, closing-bet) over the universe for a day,
    or over a narrower one (a ScanJob's markets, tickers and top N by trading value)."""
    ctx = _ctx()
    scan_kind = normalize_scan_kind(kind)
    universe = {"markets": markets, "tickers": tickers, "top_n": top_n}
    the_day = _day_arg(day, scan_date)
    run_id = run_id or new_run_id(scan_kind, the_day)
    return _run_use_case(
        ctx,
        "run_scan",
        run_kind=scan_kind,
        run_id=run_id,
        lock_name=f"scan:{scan_kind}:{the_day}",
        events_for=scan_events(run_id, scan_kind, the_day, pipeline_id),
        step=scan_kind,
        pipeline_id=pipeline_id,
        kind=scan_kind,
        day=the_day,
        **_policy_kwargs(policy_name),
        **{k: v for k, v in universe.items() if v not in (None, "", [])},
    )


@shared_task(name="krstock.run_track", **RETRY_OPTIONS)
def run_track(
    self: Any,
    *,
    day: str | None = None,
    scan_date: str | None = None,
    policy_name: str | None = None,
    run_id: str | None = None,
    pipeline_id: str | None = None,
) -> dict[str, Any]:
    """Mark open signals to market and close them by rule."""
    ctx = _ctx()
    the_day = _day_arg(day, scan_date)
    run_id = run_id or new_run_id("track", the_day)
    return _run_use_case(
        ctx,
        "run_track",
        run_kind="track",
        run_id=run_id,
        lock_name=f"track:{the_day}",
        events_for=track_events(run_id, the_day, pipeline_id),
        step="track",
        pipeline_id=pipeline_id,
        day=the_day,
        **_policy_kwargs(policy_name),
    )


def llm_rate_limiter(ctx: WorkerContext) -> TokenBucket:
    """The bucket every worker shares for LLM requests (``KRSTOCK_LLM_RATE_PER_S``, default 1/s)."""
    return TokenBucket(
        ctx.redis, "llm", rate_per_s=ctx.settings.llm_rate_per_s, prefix=ctx.pipeline.redis_prefix
    )


def krx_rate_limiter(ctx: WorkerContext) -> TokenBucket:
    """The bucket every worker shares for KRX requests (``KRSTOCK_KRX_RATE_PER_S``)."""
    return TokenBucket(
        ctx.redis, "krx", rate_per_s=ctx.settings.krx_rate_per_s, prefix=ctx.pipeline.redis_prefix
    )


@shared_task(name="krstock.run_analyze", **RETRY_OPTIONS)
def run_analyze(
    self: Any,
    *,
    day: str | None = None,
    scan_date: str | None = None,
    run_id: str | None = None,
    pipeline_id: str | None = None,
) -> dict[str, Any]:
    """AI analysis of the day's new signals (rate-limited LLM calls)."""
    ctx = _ctx()
    the_day = _day_arg(day, scan_date)
    run_id = run_id or new_run_id("analysis", the_day)
    function = runs_function("run_analysis")
    extra: dict[str, Any] = {}
    if "rate_limit" in inspect.signature(function).parameters:
        bucket = llm_rate_limiter(ctx)
        extra["rate_limit"] = lambda: bucket.acquire(timeout_s=120)
    return _run_use_case(
        ctx,
        "run_analysis",
        run_kind="analysis",
        run_id=run_id,
        lock_name=f"analysis:{the_day}",
        events_for=analysis_events(run_id, the_day, pipeline_id),
        step="analysis",
        pipeline_id=pipeline_id,
        day=the_day,
        **extra,
    )


@shared_task(name="krstock.run_backtest", **RETRY_OPTIONS)
def run_backtest(
    self: Any,
    *,
    strategy: str,
    start: str,
    end: str,
    policy_name: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """A backtest of ``strategy`` over [start, end]."""
    ctx = _ctx()
    start_d, end_d = parse_day(start, name="start"), parse_day(end, name="end")
    run_id = run_id or new_run_id(f"backtest-{strategy}", end_d)
    return _run_use_case(
        ctx,
        "run_backtest",
        run_kind="backtest",
        run_id=run_id,
        lock_name=f"backtest:{strategy}:{start_d}:{end_d}:{policy_name or 'default'}",
        strategy=strategy,
        start=start_d,
        end=end_d,
        **_policy_kwargs(policy_name),
    )


# The daily pipeline ---------------------------------------------------------------------------
def step_run_id(pipeline_id: str, step: str) -> str:
    return f"{pipeline_id}:{step}"[:64]


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
    start = (day - timedelta(days=collect_days - 1)).isoformat()
    common = {"pipeline_id": pipeline_id}
    scans = tuple(normalize_scan_kind(k) for k in scans)
    steps: list[Signature] = [
        run_collect.si(
            start=start,
            end=iso,
            source=source,
            tickers=tickers,
            source_options=source_options,
            run_id=step_run_id(pipeline_id, "collect"),
            **common,
        ),
        run_market_gate.si(day=iso, run_id=step_run_id(pipeline_id, "gate"), **common),
    ]
    scan_sigs = [
        run_scan.si(kind=k, day=iso, run_id=step_run_id(pipeline_id, k), **common) for k in scans
    ]
    if scan_sigs:
        steps.append(group(scan_sigs) if len(scan_sigs) > 1 else scan_sigs[0])
    steps += [
        run_analyze.si(day=iso, run_id=step_run_id(pipeline_id, "analysis"), **common),
        run_track.si(day=iso, run_id=step_run_id(pipeline_id, "track"), **common),
        pipeline_step_done.si(pipeline_id=pipeline_id, day=iso, scans=list(scans)),
    ]
    canvas = chain(*steps)
    canvas.link_error(pipeline_failed.s(pipeline_id=pipeline_id))
    return canvas


PIPELINE_STEPS = ("collect", "gate", "analysis", "track")


def pipeline_counts(ctx: WorkerContext, pipeline_id: str, scans: list[str]) -> dict[str, Any]:
    """The status and counts of every step run, from scan_runs."""
    steps: dict[str, Any] = {}
    for step in (*PIPELINE_STEPS[:2], *scans, *PIPELINE_STEPS[2:]):
        state = run_status(ctx.engine, step_run_id(pipeline_id, step))
        steps[step] = {"status": state[0], "counts": state[1]} if state else {"status": None}
    return steps


@shared_task(name="krstock.pipeline_step_done", **RETRY_OPTIONS)
def pipeline_step_done(
    self: Any, *, pipeline_id: str, day: str, scans: list[str]
) -> dict[str, Any]:
    """The last link: the pipeline row becomes SUCCEEDED with every step's counts."""
    ctx = _ctx()
    steps = pipeline_counts(ctx, pipeline_id, scans)
    record_run(
        ctx.engine,
        pipeline_id,
        kind="pipeline",
        status="SUCCEEDED",
        day=parse_day(day),
        progress=100.0,
        counts={"steps": steps},
    )
    ProgressPublisher(ctx, pipeline_id, "pipeline").publish(
        "SUCCEEDED", 100.0, "daily pipeline finished"
    )
    return {"run_id": pipeline_id, "status": "SUCCEEDED", "day": day, "steps": steps}


@shared_task(name="krstock.pipeline_failed")
def pipeline_failed(request: Any, exc: Any, traceback: Any, *, pipeline_id: str) -> None:
    """Errback of the canvas: the pipeline row becomes FAILED with the failing step's error.

    Not ``bind=True``: Celery calls an errback with (request, exc, traceback) in the failing
    worker only when the plain function takes them; a bound one would get just the task id.
    """
    ctx = _ctx()
    task_name = getattr(request, "task", "?")
    error = f"{task_name}: {type(exc).__name__}: {exc}"[:2000]
    record_run(ctx.engine, pipeline_id, kind="pipeline", status="FAILED", error=error)
    ProgressPublisher(ctx, pipeline_id, "pipeline").publish("FAILED", 100.0, error)


@shared_task(name="krstock.run_pipeline", **RETRY_OPTIONS)
def run_pipeline(
    self: Any,
    *,
    day: str | None = None,
    scan_date: str | None = None,
    source: str | None = None,
    scans: list[str] | None = None,
    collect_days: int = 1,
    source_options: dict[str, Any] | None = None,
    run_id: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Start the daily pipeline canvas for a trading day (skips closed days unless ``force``)."""
    ctx = _ctx()
    the_day = _day_arg(day, scan_date)
    calendar = KrxCalendar(ctx.pipeline.krx_extra_holidays, ctx.pipeline.krx_extra_trading_days)
    reason = calendar.holiday_reason(the_day)
    if reason is not None and not force:
        return {"status": "SKIPPED", "day": the_day.isoformat(), "reason": reason}
    pipeline_id = run_id or new_run_id("daily", the_day)
    state = run_status(ctx.engine, pipeline_id)
    if state is not None and state[0] == "SUCCEEDED":
        return {"run_id": pipeline_id, "status": "SUCCEEDED", "skipped": "already succeeded"}
    record_run(
        ctx.engine,
        pipeline_id,
        kind="pipeline",
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


@shared_task(name="krstock.scheduled", **RETRY_OPTIONS)
def scheduled(self: Any, *, job: str, fired_at: str | None = None) -> dict[str, Any]:
    """What beat and the CronJobs fire: plan the job on the KRX calendar, then enqueue it."""
    ctx = _ctx()
    jobs = default_jobs(ctx.pipeline)
    if job not in jobs:
        raise ValueError(f"unknown scheduled job {job!r}; known: {', '.join(jobs)}")
    calendar = KrxCalendar(ctx.pipeline.krx_extra_holidays, ctx.pipeline.krx_extra_trading_days)
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


@shared_task(name="krstock.refresh_prices", **RETRY_OPTIONS)
def refresh_prices(self: Any) -> dict[str, Any]:
    """The monolith's 5-minute refresher: mark every OPEN signal to market (current price and
    return) from the best source available, during KRX sessions only."""
    from krstock.api.cache import JsonCache
    from krstock.api.prices import refresh_open_signals
    from krstock.api.settings import get_api_settings

    ctx = _ctx()
    calendar = KrxCalendar(ctx.pipeline.krx_extra_holidays, ctx.pipeline.krx_extra_trading_days)
    now = kst_now()
    if not calendar.is_trading_day(now.date()):
        return {"updated": 0, "skipped": "not a KRX trading day"}
    api = get_api_settings()
    updated = refresh_open_signals(ctx.engine, JsonCache(ctx.redis, api.cache_prefix))
    return {"updated": updated}
