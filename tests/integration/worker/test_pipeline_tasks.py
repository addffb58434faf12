"""Task behaviour in-process (eager): retries only for transient errors, metrics, the enqueue
command, and the worker's metrics endpoint pieces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pipeline_harness import private_redis
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from krstock.config import Settings, get_settings
from krstock.worker import celery_app as celery_module
from krstock.worker.celery_app import create_app
from krstock.worker.context import WorkerContext, set_context
from krstock.worker.locks import LockBusy, RedisLock
from krstock.worker.metrics import QueueLengthCollector

pytestmark = pytest.mark.integration


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def eager(db_url: str) -> Iterator[WorkerContext]:
    settings = Settings(database_url=db_url, redis_url=None, max_retries=2, redis_prefix="eg")
    context = WorkerContext(settings)
    set_context(context)
    app = create_app(settings, eager=True)
    app.conf.task_eager_propagates = False  # inspect failures as results
    app.set_current()
    yield context
    set_context(None)


def test_a_busy_lock_is_retried_and_a_bad_argument_is_not(eager: WorkerContext) -> None:
    from krstock.worker import tasks

    retries_before = sample("krstock_task_retries_total", task="krstock.run_scan")
    failures_before = sample("krstock_tasks_total", task="krstock.run_scan", state="FAILURE")
    key = "eg:lock:scan:vcp:2026-01-05"
    with RedisLock(eager.redis, key, owner="someone-else", ttl_s=30):
        result = tasks.run_scan.apply(kwargs={"kind": "vcp", "day": "2026-01-05"})
    assert isinstance(result.result, LockBusy) and "someone-else" in str(result.result)
    assert sample("krstock_task_retries_total", task="krstock.run_scan") - retries_before == 2
    bad = tasks.run_scan.apply(kwargs={"kind": "momentum", "day": "2026-01-05"})
    assert isinstance(bad.result, ValueError)
    # No retry for a bad argument; both attempts ended as failures in the task counter.
    assert sample("krstock_task_retries_total", task="krstock.run_scan") - retries_before == 2
    failures = sample("krstock_tasks_total", task="krstock.run_scan", state="FAILURE")
    assert failures - failures_before == 2


def test_missing_data_fails_the_run_and_says_why(eager: WorkerContext) -> None:
    from sqlalchemy import text

    from krstock.worker import tasks

    result = tasks.run_scan.apply(kwargs={"kind": "vcp", "day": "2026-01-05", "run_id": "nodata"})
    assert isinstance(result.result, LookupError)
    with eager.engine.connect() as conn:
        status, error = conn.execute(
            text("select status, error from scan_runs where id = 'nodata'")
        ).one()
    assert status == "FAILED" and "collect that day first" in error
    last = json.loads(eager.redis.get("eg:runs:nodata:last"))
    assert last["status"] == "FAILED"


def test_enqueue_command_routes_to_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from krstock.cli import app as cli

    with private_redis(tmp_path) as server:
        monkeypatch.setenv("KRSTOCK_REDIS_URL", server.url)
        get_settings.cache_clear()
        monkeypatch.setattr(celery_module, "_APP", None)
        try:
            runner = CliRunner()
            ok = runner.invoke(
                cli, ["enqueue", "scan", "--kind", "closing_bet", "--date", "2026-01-05", "--json"]
            )
            assert ok.exit_code == 0, ok.output
            payload = json.loads(ok.stdout)
            assert payload["task"] == "krstock.run_scan" and payload["queue"] == "scan"
            client = redis.Redis.from_url(server.url)
            assert client.llen("scan") == 1
            missing = runner.invoke(cli, ["enqueue", "scan", "--date", "2026-01-05"])
            assert missing.exit_code == 2 and "--kind" in missing.output
            unknown = runner.invoke(cli, ["enqueue", "nope"])
            assert unknown.exit_code == 2
            collector = QueueLengthCollector(client, ["scan", "ai"])
            [family] = list(collector.collect())
            assert {s.labels["queue"]: s.value for s in family.samples} == {"scan": 1, "ai": 0}
        finally:
            get_settings.cache_clear()


def test_backtest_task_runs_the_use_case_once_per_run_id(eager: WorkerContext) -> None:
    from datetime import date

    from sqlalchemy import text

    from krstock.app.runs import run_collect
    from krstock.worker import tasks

    run_collect(
        eager.engine,
        start=date(2025, 12, 1),
        end=date(2026, 1, 30),
        source="sample",
        source_options={"n_tickers": 60},
    )
    kwargs = {"strategy": "vcp", "start": "2026-01-05", "end": "2026-01-30", "run_id": "bt-1"}
    first = tasks.run_backtest.apply(kwargs=kwargs)
    assert first.successful(), first.result
    assert first.result["run_id"] == "bt-1" and "skipped" not in first.result
    again = tasks.run_backtest.apply(kwargs=kwargs).result
    assert again["skipped"] == "already succeeded"
    with eager.engine.connect() as conn:
        rows = conn.execute(text("select status from scan_runs where id = 'bt-1'")).all()
    assert [r.status for r in rows] == ["SUCCEEDED"]


def test_price_refresh_marks_open_signals_on_trading_days_only(
    eager: WorkerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date, datetime

    from sqlalchemy import text

    from krstock.domain.calendar import KST
    from krstock.worker import tasks
    from krstock.worker.schedules import beat_schedule, default_jobs

    with eager.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO daily_prices (ticker, date, open, high, low, close, volume) VALUES "
                "('005930', :d1, 100, 100, 100, 100, 10), ('005930', :d2, 100, 110, 100, 110, 10)"
            ),
            {"d1": date(2026, 11, 19), "d2": date(2026, 11, 20)},
        )
        conn.execute(
            text(
                "INSERT INTO signals (strategy, ticker, signal_date, status, entry_price) "
                "VALUES ('vcp-legacy', '005930', :d1, 'OPEN', 100)"
            ),
            {"d1": date(2026, 11, 19)},
        )
    # Sunday: nothing is touched.
    monkeypatch.setattr(tasks, "kst_now", lambda: datetime(2026, 11, 22, 10, 0, tzinfo=KST))
    assert tasks.refresh_prices.apply().result["skipped"] == "not a KRX trading day"
    # Friday in the session: the open signal gets the latest bar's close and its return.
    monkeypatch.setattr(tasks, "kst_now", lambda: datetime(2026, 11, 20, 10, 0, tzinfo=KST))
    assert tasks.refresh_prices.apply().result == {"updated": 1}
    with eager.engine.connect() as conn:
        price, ret = conn.execute(text("SELECT current_price, return_pct FROM signals")).one()
    assert (price, ret) == (110, 10.0)
    entry = beat_schedule(default_jobs())["krstock-refresh-prices"]
    assert entry["task"] == "krstock.refresh_prices"
    assert entry["options"] == {"queue": "maintenance"}
