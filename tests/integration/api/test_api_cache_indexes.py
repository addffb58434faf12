"""Event-driven cache invalidation over the real bus, and index use of every hot route's queries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from helpers.api_apps import build_app
from helpers.api_seed import seed
from sqlalchemy import event

from krstock.api.infra.events import CacheInvalidator
from krstock.bus.events import MarketStatusChanged, SignalCreated
from krstock.bus.redis_streams import RedisStreamBroker
from krstock.cache import JsonCache
from krstock.db.session import make_engine

pytestmark = pytest.mark.integration

HOT_ROUTES = (
    "/api/kr/market-status",
    "/api/kr/signals",
    "/api/kr/market-gate",
    "/api/kr/jongga-v2/latest",
    "/api/kr/jongga-v2/dates",
    "/api/kr/stock-chart/005930",
    "/api/kr/ai-analysis",
    "/api/kr/ai-history-dates",
    "/api/kr/backtest-summary",
    "/api/v1/stocks/005930",
    "/api/v1/stocks/005930/prices?limit=50",
    "/api/v1/stocks/005930/flows",
    "/api/v1/signals?status=OPEN",
    "/api/v1/signals?strategy=closing-bet&limit=5",
    "/api/v1/signals/latest",
    "/api/v1/market-gate",
    "/api/v1/runs?scanjob=krstock/sample",
)
BIG_TABLES = ("daily_prices", "investor_flows", "signals", "ai_analyses", "scan_runs")


@pytest.fixture(scope="module")
def database(fresh_database: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    with fresh_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=1)
        seed(engine, tickers=40, days=80)
        engine.dispose()
        yield url


def test_bus_events_invalidate_the_matching_cache_groups(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    prefix = f"krstock:test:{uuid.uuid4().hex[:8]}"
    cache = JsonCache(client, prefix)
    broker = RedisStreamBroker(client)
    invalidator = CacheInvalidator(redis_url, cache, block_ms=100)
    invalidator.start()
    try:
        cache.set("signals", "a", b"[1]", 60)
        cache.set("gate", "b", b"[2]", 60)
        broker.publish(SignalCreated(day=date(2026, 2, 10), strategy="vcp-legacy", ticker="005930"))
        deadline = time.monotonic() + 5
        while cache.get("signals", "a") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cache.get("signals", "a") is None
        assert cache.get("gate", "b") == b"[2]"  # untouched by a signal event
        broker.publish(MarketStatusChanged(day=date(2026, 2, 10), status="RED"))
        while cache.get("gate", "b") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cache.get("gate", "b") is None and invalidator.handled >= 2
    finally:
        invalidator.stop()
        client.close()


def test_every_hot_route_query_can_use_an_index(database: str, redis_url: str) -> None:
    built = build_app("gateway", database, redis_url, api={"cache_enabled": False})
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(built.state.engine, "before_cursor_execute", capture)
    try:
        with TestClient(built.app) as client:
            for route in HOT_ROUTES:
                assert client.get(route).status_code == 200, route
        event.remove(built.state.engine, "before_cursor_execute", capture)
        assert len(statements) > len(HOT_ROUTES)
        offenders = []
        with built.state.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur:
                # With sequential scans priced out, a Seq Scan left in a plan means no index fits.
                cur.execute("SET enable_seqscan = off")
                for statement, params in statements:
                    cur.execute("EXPLAIN " + statement, params)
                    plan = "\n".join(row[0] for row in cur.fetchall())
                    for table in BIG_TABLES:
                        if f"Seq Scan on {table}" in plan:
                            offenders.append(f"{table}: {statement[:160]}")
        assert not offenders, "\n".join(offenders)
    finally:
        built.state.close()
