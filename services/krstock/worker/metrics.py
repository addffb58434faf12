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


class QueueLengthCollector(Collector):
    """``krstock_queue_length{queue}``: messages waiting in each Celery queue (a Redis list)."""

    def __init__(self, client: redis.Redis, queues: Sequence[str]) -> None:
        self.client = client
        self.queues = list(queues)

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "krstock_queue_length", "Messages waiting in a Celery queue", labels=["queue"]
        )
        for queue in self.queues:
            try:
                length = int(self.client.llen(queue))
            except redis.RedisError:
                continue  # absent rather than a fake zero when Redis is down
            family.add_metric([queue], length)
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
    start_http_server(port, registry=registry)
