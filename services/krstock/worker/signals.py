"""Celery signal handlers: task metrics, and fresh per-process resources after a fork."""

from __future__ import annotations

import time
from typing import Any

from celery.signals import (
    task_postrun,
    task_prerun,
    task_retry,
    worker_process_init,
)

from krstock.worker import metrics

_started: dict[str, float] = {}
_connected = False


def _on_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


def _on_postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    name = getattr(task, "name", "unknown")
    started = _started.pop(task_id or "", None)
    if started is not None:
        metrics.TASK_DURATION.labels(name).observe(time.monotonic() - started)
    metrics.TASKS.labels(name, state or "UNKNOWN").inc()


def _on_retry(sender: Any = None, **_: Any) -> None:
    metrics.TASK_RETRIES.labels(getattr(sender, "name", "unknown")).inc()


def _on_process_init(**_: Any) -> None:
    from krstock.worker.context import set_context

    set_context(None)  # the parent's sockets must not be reused in a child


def connect_metrics() -> None:
    global _connected
    if _connected:
        return
    task_prerun.connect(_on_prerun, weak=False)
    task_postrun.connect(_on_postrun, weak=False)
    task_retry.connect(_on_retry, weak=False)
    worker_process_init.connect(_on_process_init, weak=False)
    _connected = True
