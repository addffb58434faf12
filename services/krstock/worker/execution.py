"""The mechanics every task shares: idempotency by run id, a lock per (kind, date), progress for
live viewers, and events published after the work (with ids derived from the run, so publishing
them again after a redelivery changes nothing for consumers that deduplicate).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, update
from sqlalchemy.orm import Session

from krstock.app.recorder import run_status
from krstock.bus import metrics
from krstock.bus.events import Event
from krstock.db.models import ScanRun
from krstock.worker.context import WorkerContext
from krstock.worker.locks import RedisLock

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]
_EVENT_NAMESPACE = uuid.UUID("5b0c9a8e-4f0e-4a53-9d3c-2f1c8a7e6b10")
SUMMARY_TTL_S = 7 * 24 * 3600


def event_id_for(run_id: str, event_type: str, key: str = "") -> str:
    """A stable event id: the same run publishing the same fact yields the same id."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{run_id}|{event_type}|{key}").hex


class ProgressPublisher:
    """``progress(percent, message)`` → pub/sub ``<prefix>:runs:<run_id>`` + a last-value key.

    A viewer subscribes to the channel and reads ``<channel>:last`` to catch up.
    """

    def __init__(self, ctx: WorkerContext, run_id: str, kind: str) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.kind = kind
        self.channel = f"{ctx.settings.worker.redis_prefix}:runs:{run_id}"

    def publish(self, status: str, percent: float, message: str, **extra: Any) -> None:
        payload = {
            "run_id": self.run_id,
            "kind": self.kind,
            "status": status,
            "percent": round(max(0.0, min(100.0, float(percent))), 2),
            "message": message,
            "at": datetime.now(UTC).isoformat(),
            **extra,
        }
        data = orjson.dumps(payload, default=str)
        client = self.ctx.redis
        with client.pipeline(transaction=False) as pipe:
            pipe.set(f"{self.channel}:last", data, ex=SUMMARY_TTL_S)
            pipe.publish(self.channel, data)
            pipe.execute()

    def __call__(self, percent: float, message: str) -> None:
        self.publish("RUNNING", percent, message)


def advance_pipeline(ctx: WorkerContext, pipeline_id: str, step: str, percent: float) -> None:
    """A pipeline step finished: raise the pipeline row's progress (never lower it: scans run in
    parallel) and tell live viewers on the pipeline's channel."""
    with Session(ctx.engine) as session:
        session.execute(
            update(ScanRun)
            .where(ScanRun.id == pipeline_id, ScanRun.status == "RUNNING")
            .values(progress=func.greatest(ScanRun.progress, percent))
        )
        session.commit()
    ProgressPublisher(ctx, pipeline_id, "pipeline").publish("RUNNING", percent, f"{step} done")


def publish_events(ctx: WorkerContext, events: list[Event]) -> int:
    broker = ctx.broker
    for event in events:
        broker.publish(event)
        metrics.EVENTS_PUBLISHED.labels(event.type).inc()
    return len(events)


def execute_run(
    ctx: WorkerContext,
    *,
    run_id: str,
    kind: str,
    lock_name: str | None,
    runner: Callable[[ProgressFn], dict[str, Any]],
    events_for: Callable[[dict[str, Any]], list[Event]] | None = None,
    check_db: bool = True,
) -> dict[str, Any]:
    """Run ``runner`` once per ``run_id``: skip when already SUCCEEDED, serialise on the lock."""
    prefix = ctx.settings.worker.redis_prefix
    summary_key = f"{prefix}:runs:{run_id}:summary"
    published_key = f"{prefix}:runs:{run_id}:events-published"
    progress = ProgressPublisher(ctx, run_id, kind)

    def finished_before() -> dict[str, Any] | None:
        state = run_status(ctx.engine, run_id) if check_db else None
        if state is None or state[0] != "SUCCEEDED":
            return None
        stored = ctx.redis.get(summary_key)
        summary = orjson.loads(stored) if stored else {"counts": state[1]}
        if events_for is not None and stored and not ctx.redis.exists(published_key):
            # Redelivered after the work but before its events went out: send them now.
            publish_events(ctx, events_for(summary))
            ctx.redis.set(published_key, 1, ex=SUMMARY_TTL_S)
        log.info("run already succeeded; not running it again", extra={"run_id": run_id})
        return {**summary, "run_id": run_id, "skipped": "already succeeded"}

    done = finished_before()
    if done is not None:
        return done
    lock = (
        RedisLock(
            ctx.redis,
            f"{prefix}:lock:{lock_name}",
            owner=run_id,
            ttl_s=ctx.settings.worker.lock_ttl_s,
        )
        if lock_name
        else None
    )
    if lock is not None:
        lock.acquire()  # LockBusy → the task retries later
    try:
        done = finished_before()  # the previous holder may have been this very run
        if done is not None:
            return done
        progress.publish("RUNNING", 0.0, "started")
        try:
            summary = runner(progress)
        except Exception as exc:
            progress.publish("FAILED", 100.0, f"{type(exc).__name__}: {exc}"[:500])
            raise
        summary = {**summary, "run_id": run_id}
        ctx.redis.set(summary_key, orjson.dumps(summary, default=str), ex=SUMMARY_TTL_S)
    finally:
        if lock is not None:
            lock.release()
    if events_for is not None:
        publish_events(ctx, events_for(summary))
        ctx.redis.set(published_key, 1, ex=SUMMARY_TTL_S)
    progress.publish("SUCCEEDED", 100.0, "finished", counts=summary.get("counts"))
    return summary
