"""Task names and their queues: importable by any enqueuer (the API) without Celery internals.

Send with ``celery.send_task(name, kwargs=..., queue=queue_for(name))``: routing happens on the
sending side, so an enqueuer that leaves the queue out lands in Celery's default ``celery`` queue,
which no krstock worker consumes.
"""

from __future__ import annotations

QUEUES = ("collect", "scan", "ai", "maintenance")

TASK_QUEUES: dict[str, str] = {
    "krstock.run_collect": "collect",
    "krstock.run_market_gate": "scan",
    "krstock.run_scan": "scan",
    "krstock.run_track": "scan",
    "krstock.run_analyze": "ai",
    "krstock.run_backtest": "maintenance",
    "krstock.run_pipeline": "maintenance",
    "krstock.pipeline_step_done": "maintenance",
    "krstock.scheduled": "maintenance",
    "krstock.refresh_prices": "maintenance",
}

# Scan kinds accepted by ``krstock.run_scan`` (the API's underscore spellings are aliases).
SCAN_KINDS = ("vcp", "vcp-legacy", "trend-template", "closing-bet")


def queue_for(task_name: str) -> str:
    try:
        return TASK_QUEUES[task_name]
    except KeyError:
        raise ValueError(
            f"unknown krstock task {task_name!r}; known: {sorted(TASK_QUEUES)}"
        ) from None


def normalize_scan_kind(kind: str) -> str:
    normalized = kind.strip().lower().replace("_", "-")
    if normalized not in SCAN_KINDS:
        raise ValueError(f"unknown scan kind {kind!r}; use one of {', '.join(SCAN_KINDS)}")
    return normalized
