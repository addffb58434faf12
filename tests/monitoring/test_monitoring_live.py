"""The monitoring against the real thing: the gateway, a prefork worker and the operator run as
processes; their /metrics pass ``promtool check metrics`` and expose every metric the rules and
dashboards read; every SQL panel returns rows from the migrated schema with the synthetic market;
a real Prometheus on 127.0.0.1 scrapes the gateway and the worker, evaluates the chart's rules
without errors, and answers every alert, recording rule and panel expression."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from monitoring_helpers import (
    ROOT,
    exposed_names,
    metric_names,
    promql_queries,
    recorded_names,
    recorded_series,
    rules,
    sql_queries,
)
from monitoring_processes import (
    CLI,
    environment,
    free_port,
    load_market,
    private_redis,
    prometheus_config,
    start,
    stop,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START, END = date(2025, 1, 2), date(2025, 12, 30)
TICKERS = 120
# Series that must exist once the gateway and the worker have been scraped a few times.
KEY_SERIES = [
    "krstock_db_up == 1",
    'krstock_queue_length{queue="scan"}',
    'krstock_worker_queue_consumers{queue="scan"}',
    'krstock_tasks_total{task="krstock.run_scan",state="SUCCESS"}',
    'krstock_pipeline_runs_total{step="vcp-legacy",outcome="succeeded"}',
    'krstock_scan_tickers_read_total{strategy="vcp-legacy"}',
    'krstock_pipeline_last_success_day_timestamp_seconds{step="pipeline"}',
    'krstock_data_last_day_timestamp_seconds{dataset="prices"}',
    "krstock_krx_expected_trading_day_timestamp_seconds",
    "krstock_bus_dead_letter_messages",
    "krstock:http_requests:rate5m",
    "krstock:db_pool_usage:ratio",
    "krstock:queue_length:max",
]


@pytest.fixture(scope="module")
def market_db(admin_url: str) -> Iterator[str]:
    from krstock.db.migrate import upgrade

    name = f"krstock_monitoring_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    try:
        upgrade(url, "head")
        load_market(url, START, END, TICKERS)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def platform(market_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """The gateway and a prefork worker (scan queue) serving /metrics on a private Redis; one
    scan task done."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/services.sh installs it)")
    logs = tmp_path_factory.mktemp("platform")
    redis_server, redis_url = private_redis(logs)
    env = environment(market_db, redis_url)
    gateway_port, worker_port = free_port(), free_port()
    gateway = start([*CLI, "serve", "gateway", "--port", str(gateway_port)], env, logs / "gw.log")
    worker = start(
        [*CLI, "worker", "--queues", "scan", "--concurrency", "1", "--pool", "prefork"],
        {**env, "KRSTOCK_WORKER_METRICS_PORT": str(worker_port)},
        logs / "worker.log",
    )
    try:
        for port, proc in ((gateway_port, gateway), (worker_port, worker)):
            wait_for(
                lambda p=port: httpx.get(f"http://127.0.0.1:{p}/metrics", timeout=2).is_success,
                f"/metrics on {port}",
                60,
                proc,
            )
        done = subprocess.run(
            [*CLI, "enqueue", "scan", "--kind", "vcp-legacy", "--date", str(END), "--wait",
             "--timeout", "120", "--json"],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        yield {"gateway": gateway_port, "worker": worker_port}
    finally:
        stop(worker)
        stop(gateway)
        stop(redis_server)
        for log in logs.iterdir():
            sys.stderr.write(log.read_text()[-3000:] if log.stat().st_size else "")


@pytest.fixture(scope="module")
def operator_metrics() -> str:
    """/metrics of ``python -m krstock_operator`` running against the emulated API server
    (the operator tests' emulator) with a ScanJob to reconcile."""
    sys.path.insert(0, str(ROOT / "tests" / "operator"))
    import kmock
    from k8s_emulator import make_emulator

    async def scrape() -> str:
        emulator = make_emulator(keda=False)
        async with emulator, kmock.Server(emulator) as server:
            port, liveness = free_port(), free_port()
            env = {
                **environment("", ""),
                "KRSTOCK_OPERATOR_KUBE_URL": str(server.url).rstrip("/"),
                "KRSTOCK_OPERATOR_API_URL": f"http://127.0.0.1:{free_port()}",
                "KRSTOCK_OPERATOR_API_TIMEOUT_S": "1",
                "KRSTOCK_OPERATOR_RESYNC_SECONDS": "1",
                "KRSTOCK_OPERATOR_METRICS_PORT": str(port),
                "KRSTOCK_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{liveness}/healthz",
            }
            process = subprocess.Popen(
                [sys.executable, "-m", "krstock_operator"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                async with httpx.AsyncClient() as client:
                    for _ in range(200):
                        with contextlib.suppress(httpx.HTTPError):  # not listening yet
                            answer = await client.get(f"http://127.0.0.1:{port}/metrics")
                            if answer.is_success:
                                return answer.text
                        if process.poll() is not None:
                            break
                        await asyncio.sleep(0.1)
                raise AssertionError(f"operator /metrics never answered ({process.poll()})")
            finally:
                process.terminate()
                process.wait(timeout=20)

    return asyncio.run(scrape())


def _metrics(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def test_every_exposition_passes_promtool_check_metrics(
    platform: dict[str, int], operator_metrics: str, promtool: str
) -> None:
    texts = {name: _metrics(port) for name, port in platform.items()}
    texts["operator"] = operator_metrics
    for name, text in texts.items():
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert checked.returncode == 0, f"{name}: {checked.stdout}{checked.stderr}"


def test_every_metric_the_rules_and_panels_read_is_exposed(
    platform: dict[str, int], operator_metrics: str
) -> None:
    exposed = exposed_names(operator_metrics)
    for port in platform.values():
        exposed |= exposed_names(_metrics(port))
    used: set[str] = set()
    for query in promql_queries():
        used |= metric_names(query)
    assert used, "no metric names found in the rules and dashboards"
    assert sorted(used - exposed) == []
    # Recorded series used by panels and alerts are recorded by a rule.
    recorded = {n for q in promql_queries() for n in recorded_series(q)}
    assert sorted(recorded - recorded_names()) == []


def test_every_sql_panel_returns_rows(market_db: str) -> None:
    queries = sql_queries()
    assert len(queries) >= 4
    with psycopg.connect(market_db) as conn:
        conn.execute("SET default_transaction_read_only = on")  # what a Grafana user gets
        for title, query in queries:
            rows = conn.execute(query).fetchall()
            assert rows, title


@pytest.fixture(scope="module")
def prometheus(
    platform: dict[str, int], prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Prometheus on 127.0.0.1 scraping the gateway and the worker every second, with the
    chart's rules (evaluated every second), until the key series exist (bounded)."""
    folder = tmp_path_factory.mktemp("prometheus")
    document = {
        "groups": yaml.safe_load((ROOT / "charts/krstock/monitoring/rules.yaml").read_text())[
            "groups"
        ]
    }
    config = prometheus_config(folder, platform, document)
    port = free_port()
    proc = start(
        [prometheus_bin, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        environment("", ""), folder / "prometheus.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/-/ready", timeout=2).is_success, "ready", 60, proc)

        def key_series_present() -> bool:
            httpx.get(f"http://127.0.0.1:{platform['gateway']}/api/v1/market-gate", timeout=10)
            return all(_query(url, q) for q in KEY_SERIES)

        try:
            wait_for(key_series_present, "key series", 90, proc)
        except AssertionError as exc:
            missing = [q for q in KEY_SERIES if not _query(url, q)]
            raise AssertionError(f"{exc}; missing {missing}") from None
        yield url
    finally:
        stop(proc)


def _query(url: str, query: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=10).json()
    assert answer["status"] == "success", (query, answer)
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def test_prometheus_evaluates_every_expression(prometheus: str) -> None:
    for query in promql_queries():
        _query(prometheus, query)  # asserts success
    for query in KEY_SERIES:
        assert _query(prometheus, query), query
    targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]
    assert {t["labels"]["job"]: t["health"] for t in targets["activeTargets"]} == {
        "gateway": "up",
        "worker": "up",
    }


def test_prometheus_runs_every_rule_without_error(prometheus: str) -> None:
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    expected = {r.get("alert") or r["record"] for r in rules()}
    assert set(loaded) == expected
    assert {n: r["health"] for n, r in loaded.items() if r["health"] != "ok"} == {}
    # The KRX-aware alerts see the synthetic market as it is: its last day (2025-12-30) is
    # older than the trading day expected now, so both say so; a live queue is not "absent".
    firing = {r["name"] for r in loaded.values() if r.get("state") in ("pending", "firing")}
    assert {"KrstockMarketDataStale", "KrstockDailyPipelineMissed"} <= firing
    assert "KrstockWorkersAbsent" not in firing and "KrstockDatabaseUnreachable" not in firing
