"""The gateway with its services stopped: stale answers from cache or DB, or a clear 503.

A real signals service runs under uvicorn on 127.0.0.1; the gateway reaches it over HTTP.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
import uvicorn
from fastapi.testclient import TestClient
from helpers.api_apps import Built, build_app, make_keys
from helpers.api_seed import SeedSummary, seed
from prometheus_client import REGISTRY

from krstock.db.session import make_engine

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceThread:
    """A uvicorn server in a thread (started and stopped by the test, loopback only)."""

    def __init__(self, built: Built, port: int) -> None:
        config = uvicorn.Config(built.app, host="127.0.0.1", port=port, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServiceThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("service did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def database(
    fresh_database: Callable[[], AbstractContextManager[str]],
) -> Iterator[tuple[str, SeedSummary]]:
    with fresh_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=1)
        summary = seed(engine, tickers=40, days=80)
        engine.dispose()
        yield url, summary


def test_gateway_proxies_then_degrades_to_stale_then_recovers(
    database: tuple[str, SeedSummary], redis_url: str
) -> None:
    url = database[0]
    port = free_port()
    signals = build_app("signals", url, redis_url)
    # A dead address first: the idempotent GET is retried on the next endpoint.
    gateway = build_app(
        "gateway",
        url,
        redis_url,
        api={
            "service_signals_urls": f"http://127.0.0.1:{free_port()},http://127.0.0.1:{port}",
            "upstream_timeout_s": 0.5,
            "breaker_failures": 2,
            "breaker_reset_s": 0.3,
        },
    )
    path = "/api/v1/signals/latest?strategy=closing_bet"
    try:
        with TestClient(gateway.app) as client:
            with ServiceThread(signals, port):
                fresh = client.get(path)
                assert fresh.status_code == 200, fresh.text
                assert fresh.headers["x-served-by"] == "signals"
                assert fresh.json()["count"] == 5 and "stale" not in fresh.json()
            # The service is stopped: the last good answer, marked stale.
            cached = client.get(path)
            assert cached.status_code == 200
            body = cached.json()
            assert body["stale"] is True and "cached" in body["stale_reason"]
            assert body["signals"] == fresh.json()["signals"]
            # Without a cached copy the database answers, still marked stale.
            other = client.get("/api/v1/signals/latest?strategy=vcp_legacy")
            assert other.status_code == 200 and other.json()["stale"] is True
            assert "from database" in other.json()["stale_reason"]
            assert gateway.state.client.breaker("signals").state == "open"
            # With the breaker open the gateway does not even try the network.
            labels = {"upstream": "signals", "outcome": "breaker_open"}
            before = REGISTRY.get_sample_value("krstock_upstream_requests_total", labels) or 0
            assert client.get(path).json()["stale"] is True
            after = REGISTRY.get_sample_value("krstock_upstream_requests_total", labels)
            assert after == before + 1
            # The service comes back: after the reset period the half-open trial succeeds.
            time.sleep(0.35)
            with ServiceThread(signals, port):
                back = client.get(path)
                assert back.status_code == 200 and "stale" not in back.json()
                assert gateway.state.client.breaker("signals").state == "closed"
                admin = {"X-API-Key": make_keys(gateway.state, prefix="svc")["admin"]}
                assert client.get("/api/v1/services").status_code == 401
                described = client.get(
                    "/api/v1/services", params={"check": "true"}, headers=admin
                ).json()
                healthy = [e["healthy"] for e in described["signals"]["endpoints"]]
                assert healthy == [False, True]
    finally:
        gateway.state.close()
        signals.state.close()


def test_trigger_with_the_scanner_down_is_503_and_starts_nothing(
    database: tuple[str, SeedSummary], redis_url: str
) -> None:
    gateway = build_app(
        "gateway",
        database[0],
        redis_url,
        api={"service_scanner_urls": f"http://127.0.0.1:{free_port()}", "upstream_timeout_s": 0.3},
    )
    keys = make_keys(gateway.state, prefix="deg")
    try:
        with TestClient(gateway.app) as client:
            before = client.get("/api/v1/runs", params={"kind": "vcp"}).json()["count"]
            r = client.post(
                "/api/v1/runs", json={"kind": "vcp"}, headers={"X-API-Key": keys["write"]}
            )
            assert r.status_code == 503
            message = r.json()["error"]["message"]
            assert "scanner service is unavailable" in message and "nothing was started" in message
            assert client.get("/api/v1/runs", params={"kind": "vcp"}).json()["count"] == before
    finally:
        gateway.state.close()


def test_service_down_and_database_down_is_a_clear_503(redis_url: str) -> None:
    missing_db = "postgresql://postgres@127.0.0.1:5432/krstock_does_not_exist"
    gateway = build_app(
        "gateway",
        missing_db,
        redis_url,
        api={"service_signals_urls": f"http://127.0.0.1:{free_port()}", "upstream_timeout_s": 0.3},
    )
    try:
        with TestClient(gateway.app) as client:
            r = client.get("/api/v1/signals/latest")
            assert r.status_code == 503
            message = r.json()["error"]["message"]
            assert "signals service unavailable" in message and "database" in message
            ready = client.get("/ready")
            assert ready.status_code == 503 and "unavailable" in ready.json()["checks"]["database"]
    finally:
        gateway.state.close()


def test_gateway_forwards_a_scan_trigger_to_the_scanner_service(
    database: tuple[str, SeedSummary], redis_url: str
) -> None:
    port = free_port()
    scanner = build_app("scanner", database[0], redis_url)
    gateway = build_app(
        "gateway",
        database[0],
        redis_url,
        api={"service_scanner_urls": f"http://127.0.0.1:{port}"},
    )
    keys = make_keys(gateway.state, prefix="fwd")
    try:
        with TestClient(gateway.app) as client, ServiceThread(scanner, port):
            r = client.post(
                "/api/v1/runs",
                json={"kind": "vcp_legacy", "scanjob": "krstock/fwd"},
                headers={"X-API-Key": keys["write"]},
            )
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            deadline = time.monotonic() + 30
            while (status := client.get(f"/api/v1/runs/{run_id}").json()["status"]) not in (
                "SUCCEEDED",
                "FAILED",
            ) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert status == "SUCCEEDED"
            # A read key is refused by the gateway before anything is forwarded.
            refused = client.post(
                "/api/v1/runs", json={"kind": "vcp"}, headers={"X-API-Key": keys["read"]}
            )
            assert refused.status_code == 403
    finally:
        gateway.state.close()
        scanner.state.close()
