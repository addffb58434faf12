"""Prometheus metrics for every service: request counts and latencies by route template."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter(
    "krstock_http_requests_total",
    "HTTP requests handled",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "krstock_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
IN_FLIGHT = Gauge("krstock_http_requests_in_flight", "Requests being handled", ["service"])
UPSTREAM = Counter(
    "krstock_upstream_requests_total",
    "Gateway calls to internal services",
    ["upstream", "outcome"],
)
BREAKER_OPEN = Gauge(
    "krstock_upstream_breaker_open", "1 while an upstream's circuit breaker is open", ["upstream"]
)
RATE_LIMITED = Counter("krstock_rate_limited_total", "Requests refused with 429", ["scope"])


def metrics_response(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
