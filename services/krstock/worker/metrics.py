"""Prometheus metrics of the worker and the bus.

Task metrics are recorded from Celery signals in whichever process runs the task; with the prefork
pool the command sets ``PROMETHEUS_MULTIPROC_DIR`` so the parent's HTTP endpoint sums the children.
Queue lengths are read from Redis at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import redis
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from krstock.app.kinds import Task
from krstock.bus.metrics import QueueLengthCollector

TASKS = Counter(
    "krstock_tasks_total", "Celery tasks finished, by task and state", ["task", "state"]
)
TASK_DURATION = Histogram(
    "krstock_task_duration_seconds",
    "Celery task run time",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
TASK_RETRIES = Counter("krstock_task_retries_total", "Celery task retries", ["task"])


class WorkerQueuesCollector(Collector):
    """``krstock_worker_queue_consumers{queue}``: 1 for each queue this worker consumes, so an
    alert can tell a queue with work and no worker from a slow one."""

    def __init__(self, queues: Sequence[str]) -> None:
        self.queues = list(queues)

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "krstock_worker_queue_consumers",
            "Workers consuming a queue (1 per worker process group)",
            labels=["queue"],
        )
        for queue in self.queues:
            family.add_metric([queue], 1)
        yield family


def serve_worker_metrics(port: int, client: redis.Redis, queues: Sequence[str]) -> None:
    """Serve /metrics for a worker (sums the pool's processes when multiprocess mode is on)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    registry.register(QueueLengthCollector(client, queues))
    registry.register(WorkerQueuesCollector(queues))
    start_known_series()
    start_http_server(port, registry=registry)


def start_known_series() -> None:
    """Zero series for every task's outcomes and retries, so a ratio or an increase is 0
    rather than absent before the first failure (Prometheus' advice for labelled counters)."""
    for task in Task:
        TASK_RETRIES.labels(str(task))
        for state in ("SUCCESS", "FAILURE"):
            TASKS.labels(str(task), state)
