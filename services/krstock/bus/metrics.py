"""Prometheus metrics of the event bus: deliveries by outcome, handling lag, events published."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
