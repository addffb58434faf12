"""Prometheus metrics for every service: requests by route template, the connection pool, and —
on the gateway — the platform's state read at scrape time (pipeline successes, data freshness,
the KRX trading day the pipeline should have covered, Celery queues and the bus backlog).

State gauges come from the database and Redis rather than from in-process bookkeeping, so they
are right whichever process did the work and survive restarts. Reads are bounded (a statement
timeout, a short cache) so a scrape never piles load on a struggling database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from datetime import time as clock
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from starlette.requests import Request
from starlette.responses import Response

from krstock.app.kinds import QUEUES
from krstock.bus.metrics import BusBacklogCollector, QueueLengthCollector
from krstock.domain.calendar import KrxCalendar, OutsideCalendarError, kst_now

if TYPE_CHECKING:
    from krstock.api.infra.state import AppState

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

# When the day's pipeline must have succeeded (KST), after the close; shifted by a late close.
# The schedules run the pipeline at 15:10 and the report at 16:30 (docs/pipeline.md): 18:00
# leaves room for a retry before anyone is paged.
PIPELINE_DEADLINE_KST = clock(18, 0)
# Tables whose newest date says how fresh the market data is.
DATASETS = {"prices": "daily_prices", "flows": "investor_flows", "index": "index_prices"}
STATE_CACHE_S = 15.0
STATEMENT_TIMEOUT_MS = 2000


def day_timestamp(day: date) -> float:
    """A calendar date as a Prometheus value: seconds at 00:00 UTC of that date."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def expected_trading_day(calendar: KrxCalendar, now_kst: datetime) -> date:
    """The newest KRX trading day whose daily pipeline should have succeeded by ``now_kst``:
    today once today's deadline has passed, else the trading day before."""
    today = now_kst.date()
    if calendar.is_trading_day(today):
        deadline = datetime.combine(today, PIPELINE_DEADLINE_KST, tzinfo=now_kst.tzinfo)
        deadline += calendar.session(today).close_delay
        if now_kst >= deadline:
            return today
    return calendar.previous_trading_day(today)


class CalendarCollector(Collector):
    """The KRX calendar as metrics: alerts compare data and pipeline dates with these instead of
    hard-coded dates. Absent outside the years the calendar knows."""

    def __init__(self, calendar: KrxCalendar) -> None:
        self.calendar = calendar

    def collect(self) -> Iterable[Metric]:
        expected = GaugeMetricFamily(
            "krstock_krx_expected_trading_day_timestamp_seconds",
            "The newest KRX trading day the daily pipeline should have covered by now "
            "(00:00 UTC of that date)",
        )
        upcoming = GaugeMetricFamily(
            "krstock_krx_next_trading_day_timestamp_seconds",
            "The next KRX trading day after today (00:00 UTC of that date)",
        )
        open_today = GaugeMetricFamily(
            "krstock_krx_trading_day", "1 when today (KST) is a KRX trading day"
        )
        now = kst_now()
        try:
            expected.add_metric([], day_timestamp(expected_trading_day(self.calendar, now)))
            upcoming.add_metric([], day_timestamp(self.calendar.next_trading_day(now.date())))
            open_today.add_metric([], 1 if self.calendar.is_trading_day(now.date()) else 0)
        except OutsideCalendarError:
            return
        yield from (expected, upcoming, open_today)


class PoolCollector(Collector):
    """SQLAlchemy's connection pool of this process: capacity and connections in use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[Metric]:
        pool: Any = self.engine.pool
        if not hasattr(pool, "checkedout"):
            return  # NullPool/StaticPool: nothing pooled
        in_use = GaugeMetricFamily(
            "krstock_db_pool_connections_in_use", "Pooled connections checked out"
        )
        idle = GaugeMetricFamily("krstock_db_pool_connections_idle", "Pooled connections idle")
        capacity = GaugeMetricFamily(
            "krstock_db_pool_connections_max",
            "Connections the pool may open (size plus overflow)",
        )
        in_use.add_metric([], pool.checkedout())
        idle.add_metric([], pool.checkedin())
        capacity.add_metric([], pool.size() + max(getattr(pool, "_max_overflow", 0), 0))
        yield from (in_use, idle, capacity)


class PlatformStateCollector(Collector):
    """From the database: is it reachable, the newest date of each dataset, and per run kind the
    time and covered date of the last success. Cached for ``STATE_CACHE_S`` seconds."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > STATE_CACHE_S:
                self._cached = (time.monotonic(), self._read())
            return list(self._cached[1])

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("krstock_db_up", "1 when the database answered the last scrape")
        fresh = GaugeMetricFamily(
            "krstock_data_last_day_timestamp_seconds",
            "Newest trading day with rows in a dataset (00:00 UTC of that date)",
            labels=["dataset"],
        )
        last_time = GaugeMetricFamily(
            "krstock_pipeline_last_success_timestamp_seconds",
            "When a run of this step last succeeded",
            labels=["step"],
        )
        last_day = GaugeMetricFamily(
            "krstock_pipeline_last_success_day_timestamp_seconds",
            "The trading day covered by the newest successful run of this step "
            "(00:00 UTC of that date)",
            labels=["step"],
        )
        try:
            with self.engine.connect() as conn, conn.begin():
                conn.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
                for dataset, table in DATASETS.items():
                    newest = conn.execute(text(f"SELECT max(date) FROM {table}")).scalar()
                    if newest is not None:
                        fresh.add_metric([dataset], day_timestamp(newest))
                rows = conn.execute(
                    text(
                        "SELECT kind, max(finished_at), max(scan_date) FROM scan_runs "
                        "WHERE status = 'SUCCEEDED' GROUP BY kind"
                    )
                ).all()
        except Exception:  # any failure to read is "database unreachable" for the alert
            up.add_metric([], 0)
            return [up]
        for kind, finished, covered in rows:
            if finished is not None:
                last_time.add_metric([kind], finished.timestamp())
            if covered is not None:
                last_day.add_metric([kind], day_timestamp(covered))
        up.add_metric([], 1)
        return [up, fresh, last_time, last_day]


def service_registry(state: AppState) -> CollectorRegistry:
    """This service's scrape-time collectors: the pool everywhere; the platform's state on the
    gateway only, so each fact is reported once."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PoolCollector(state.engine))
    if state.service == "gateway":
        worker = state.settings.worker
        calendar = KrxCalendar(worker.krx_extra_holidays, worker.krx_extra_trading_days)
        registry.register(CalendarCollector(calendar))
        registry.register(PlatformStateCollector(state.engine))
        if state.redis is not None:
            registry.register(QueueLengthCollector(state.redis, [str(q) for q in QUEUES]))
            registry.register(BusBacklogCollector(state.redis, worker.redis_prefix))
    return registry


def metrics_response(request: Request) -> Response:
    state: AppState | None = getattr(request.app.state, "krstock", None)
    body = generate_latest(REGISTRY)
    if state is not None:
        registry = state.extras.get("metrics_registry")
        if registry is None:
            registry = state.extras["metrics_registry"] = service_registry(state)
        body += generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
