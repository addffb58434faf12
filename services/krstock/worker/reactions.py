"""The worker's reactions to bus events: which service group handles which event, and what it does.

- ``scanner``: MarketDataUpdated → enqueue the scans for the last collected day.
- ``analyzer``: VCPSignalDetected / SignalCreated → enqueue the day's analysis (debounced: one
  enqueue per day per window, a few seconds late so a burst of signals is analysed together).
- ``signals``: AIAnalysisCompleted → the signal row gets the analysis under ``payload.ai``.
- ``notifier``: SignalCreated → webhook / Telegram (when configured).

Events carrying ``pipeline_id`` came from a daily pipeline canvas that runs the next step itself,
so the scanner and analyzer skip them (no double runs). Deduplication by event id happens in the
consumer for every group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import Engine, bindparam, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from krstock.app.kinds import DEFAULT_SCANS, Task, queue_for
from krstock.bus.consumer import Handler
from krstock.bus.events import (
    AIAnalysisCompleted,
    Event,
    MarketDataUpdated,
    SignalCreated,
    VCPSignalDetected,
)
from krstock.db.models import Signal
from krstock.worker.notify import Notifier

SendTask = Callable[..., Any]  # celery_app.send_task(name, kwargs=..., queue=..., countdown=...)

GROUPS = ("scanner", "analyzer", "signals", "notifier")


@dataclass
class HandlerDeps:
    send_task: SendTask
    client: redis.Redis
    engine_factory: Callable[[], Engine]
    notifier: Notifier
    prefix: str = "krstock"
    scans: tuple[str, ...] = DEFAULT_SCANS
    analysis_debounce_s: int = 30
    analysis_delay_s: float = 5.0


def _enqueue(deps: HandlerDeps, task: str, countdown: float | None = None, **kwargs: Any) -> None:
    deps.send_task(task, kwargs=kwargs, queue=queue_for(task), countdown=countdown)


def scanner_handlers(deps: HandlerDeps) -> dict[str, Handler]:
    def on_market_data(event: Event) -> None:
        assert isinstance(event, MarketDataUpdated)
        if event.pipeline_id:
            return
        for kind in deps.scans:
            _enqueue(deps, Task.SCAN, kind=str(kind), day=event.end.isoformat())

    return {MarketDataUpdated.TYPE: on_market_data}


def analyzer_handlers(deps: HandlerDeps) -> dict[str, Handler]:
    def on_signals(event: Event) -> None:
        assert isinstance(event, VCPSignalDetected | SignalCreated)
        if event.pipeline_id:
            return
        key = f"{deps.prefix}:bus:analysis-requested:{event.day.isoformat()}"
        if deps.client.set(key, event.event_id, nx=True, ex=deps.analysis_debounce_s):
            _enqueue(
                deps,
                Task.ANALYZE,
                countdown=deps.analysis_delay_s,
                day=event.day.isoformat(),
            )

    return {VCPSignalDetected.TYPE: on_signals, SignalCreated.TYPE: on_signals}


def signals_handlers(deps: HandlerDeps) -> dict[str, Handler]:
    def on_analysis(event: Event) -> None:
        assert isinstance(event, AIAnalysisCompleted)
        ai = {
            "analysis_source": event.analysis_source,
            "action": event.action,
            "confidence": event.confidence,
            "event_id": event.event_id,
        }
        merged = Signal.payload.op("||")(bindparam("ai", {"ai": ai}, type_=JSONB))
        stmt = update(Signal).values(payload=merged)
        if event.signal_id is not None:
            stmt = stmt.where(Signal.id == event.signal_id)
        else:
            stmt = stmt.where(Signal.ticker == event.ticker, Signal.signal_date == event.day)
        with Session(deps.engine_factory()) as session:
            session.execute(stmt)
            session.commit()

    return {AIAnalysisCompleted.TYPE: on_analysis}


def notifier_handlers(deps: HandlerDeps) -> dict[str, Handler]:
    def on_signal(event: Event) -> None:
        assert isinstance(event, SignalCreated)
        deps.notifier.signal_created(event)

    return {SignalCreated.TYPE: on_signal}


BUILDERS: dict[str, Callable[[HandlerDeps], dict[str, Handler]]] = {
    "scanner": scanner_handlers,
    "analyzer": analyzer_handlers,
    "signals": signals_handlers,
    "notifier": notifier_handlers,
}


def handlers_for(group: str, deps: HandlerDeps) -> dict[str, Handler]:
    try:
        return BUILDERS[group](deps)
    except KeyError:
        raise ValueError(
            f"unknown service group {group!r}; use one of {', '.join(GROUPS)}"
        ) from None
