"""``krstock run daily``: the daily pipeline canvas run eagerly in this process (same task code),
and the dependencies the bus handlers need."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from krstock.app.kinds import DEFAULT_SCANS
from krstock.config import get_settings
from krstock.worker.context import WorkerContext, set_context
from krstock.worker.notify import Notifier
from krstock.worker.reactions import HandlerDeps

log = logging.getLogger(__name__)


def handler_deps(ctx: WorkerContext, send_task: Callable[..., Any]) -> HandlerDeps:
    return HandlerDeps(
        send_task=send_task,
        client=ctx.redis,
        engine_factory=lambda: ctx.engine,
        notifier=Notifier(ctx.settings.worker),
        prefix=ctx.settings.worker.redis_prefix,
    )


def run_daily_in_process(
    day: date,
    *,
    source: str | None = None,
    scans: tuple[str, ...] = DEFAULT_SCANS,
    collect_days: int = 1,
    source_options: dict[str, Any] | None = None,
    force: bool = False,
    context: WorkerContext | None = None,
) -> dict[str, Any]:
    """Run collect → gate → scans → analysis → tracking for ``day``; return every step's outcome."""
    from krstock.app.kinds import RunKind, new_run_id
    from krstock.app.recorder import record_run, run_status
    from krstock.worker.celery_app import create_app

    ctx = context or WorkerContext(get_settings())
    set_context(ctx)
    app = create_app(ctx.settings, eager=True)
    app.set_current()
    app.set_default()
    from krstock.worker import tasks

    pipeline_id = new_run_id(RunKind.PIPELINE, day)
    _ = ctx.redis, ctx.engine  # connect before the clock starts: setup, not pipeline work
    started = time.perf_counter()
    try:
        first = tasks.run_pipeline.apply(
            kwargs={
                "day": day.isoformat(),
                "source": source,
                "scans": list(scans),
                "collect_days": collect_days,
                "source_options": source_options,
                "run_id": pipeline_id,
                "force": force,
            }
        )
        outcome = first.get()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.exception("daily pipeline failed", extra={"run_id": pipeline_id})
        record_run(ctx.engine, pipeline_id, kind="pipeline", status="FAILED", day=day, error=error)
        return {
            "run_id": pipeline_id,
            "status": "FAILED",
            "error": error,
            "steps": tasks.pipeline_counts(ctx, pipeline_id, list(scans)),
            "duration_s": round(time.perf_counter() - started, 3),
            "redis": ctx.redis_mode,
        }
    if outcome.get("status") == "SKIPPED":
        return {**outcome, "duration_s": round(time.perf_counter() - started, 3)}
    state = run_status(ctx.engine, pipeline_id)
    return {
        "run_id": pipeline_id,
        "day": day.isoformat(),
        "status": state[0] if state else "UNKNOWN",
        "steps": tasks.pipeline_counts(ctx, pipeline_id, list(scans)),
        "duration_s": round(time.perf_counter() - started, 3),
        "redis": ctx.redis_mode,
    }
