"""Prometheus metrics of the event bus and of the Redis-side backlog.

Counters (deliveries, lag, publications) are recorded where events are handled. The backlog —
Celery queue lengths, consumer groups' pending and unread entries, the dead-letter stream — is
read from Redis at scrape time by the collectors below, so the gateway can report it even when no
worker is running (the "workers absent while their queue has work" alert depends on that).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

EVENTS = Counter(
    "krstock_events_total", "Bus deliveries by outcome", ["event_type", "group", "outcome"]
)
EVENT_LAG = Histogram(
    "krstock_event_lag_seconds",
    "Time from an event's occurrence to its handling",
    ["event_type", "group"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900),
)
EVENTS_PUBLISHED = Counter("krstock_events_published_total", "Events published", ["event_type"])

# Bounds a scrape's work: event types are a handful; more streams than this means a bad prefix.
MAX_STREAMS = 64


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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


class BusBacklogCollector(Collector):
    """Per stream and consumer group: entries delivered but not acknowledged (pending) and
    entries not yet delivered (lag, Redis 7); and the dead-letter stream's length."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("krstock_bus_redis_up", "1 when the bus's Redis answered")
        pending = GaugeMetricFamily(
            "krstock_bus_pending_messages",
            "Entries delivered to a consumer group and not acknowledged",
            labels=["event_type", "group"],
        )
        lag = GaugeMetricFamily(
            "krstock_bus_consumer_lag_messages",
            "Entries of a stream a consumer group has not read yet",
            labels=["event_type", "group"],
        )
        dead = GaugeMetricFamily(
            "krstock_bus_dead_letter_messages",
            "Entries in the dead-letter stream (events that failed every attempt)",
        )
        dead_key = f"{self.prefix}:events:dead-letter"
        try:
            dead.add_metric([], int(self.client.xlen(dead_key)))
            keys = sorted(
                _text(k) for k in self.client.scan_iter(match=f"{self.prefix}:events:*", count=200)
            )
            for key in [k for k in keys if k != dead_key][:MAX_STREAMS]:
                if _text(self.client.type(key)) != "stream":
                    continue
                event_type = key.rsplit(":", 1)[-1]
                for group in self.client.xinfo_groups(key):
                    name = _text(group["name"])
                    pending.add_metric([event_type, name], int(group.get("pending") or 0))
                    if group.get("lag") is not None:
                        lag.add_metric([event_type, name], int(group["lag"]))
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (up, pending, lag, dead)
