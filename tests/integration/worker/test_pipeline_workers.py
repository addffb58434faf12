"""Real worker processes on a private Redis: redelivery after SIGKILL, the shared rate limit,
probe files and graceful shutdown."""

from __future__ import annotations

import itertools
import signal
import time
import uuid
from pathlib import Path

import orjson
import pytest
import redis
from pipeline_harness import private_redis, start_worker, worker_env
from sqlalchemy import create_engine, text

from krstock.config import Settings
from krstock.db.session import normalize_url
from krstock.worker.celery_app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def test_killed_worker_scan_is_redelivered_and_completes_exactly_once(
    tmp_path: Path, db_url: str
) -> None:
    with private_redis(tmp_path) as server:
        prefix = f"kt{uuid.uuid4().hex[:6]}"
        env = worker_env(server.url, db_url, tmp_path, KRSTOCK_REDIS_PREFIX=prefix)
        client = redis.Redis.from_url(server.url)
        engine = create_engine(normalize_url(db_url))
        app = create_app(Settings(redis_url=server.url, redis_prefix=prefix))
        first = start_worker("wa", "scan", env, tmp_path)
        try:
            first.wait_ready()
            beat = first.heartbeat_file.stat().st_mtime
            run_id = "kill-test-run"
            tickers = [f"{i:06d}" for i in range(12)]
            kwargs = {"day": "2026-01-05", "run_id": run_id, "tickers": tickers, "delay_s": 0.25}
            result = app.send_task("pipeline_test.slow_scan", kwargs=kwargs, queue="scan")

            def midway() -> bool:
                raw = client.get(f"{prefix}:runs:{run_id}:last")
                return bool(raw) and orjson.loads(raw)["percent"] >= 25

            wait_for(midway, 20, "the scan to be a quarter done")
            # Liveness: the bootstep keeps touching the heartbeat (every 0.5 s) while a task runs.
            wait_for(lambda: first.heartbeat_file.stat().st_mtime > beat, 5, "a heartbeat refresh")
            assert not client.get(f"{prefix}:test:completions:{run_id}")  # still mid-scan
            first.kill(signal.SIGKILL)
            first.process.wait(timeout=10)
        finally:
            first.stop()
        with engine.connect() as conn:
            # One transaction per scan: the killed run left no half-written signals.
            assert conn.execute(text("select count(*) from signals")).scalar_one() == 0
            status = conn.execute(
                text("select status from scan_runs where id = :i"), {"i": run_id}
            ).scalar_one()
            assert status == "RUNNING"

        second = start_worker("wb", "scan", env, tmp_path)
        try:
            second.wait_ready()
            summary = result.get(timeout=30)
            assert summary["counts"] == {"signals": 12} and summary["run_id"] == run_id
            assert int(client.get(f"{prefix}:test:starts:{run_id}") or 0) == 2
            assert int(client.get(f"{prefix}:test:completions:{run_id}") or 0) == 1
            with engine.connect() as conn:
                total, distinct = conn.execute(
                    text("select count(*), count(distinct ticker) from signals")
                ).one()
                row = conn.execute(
                    text("select status, counts from scan_runs where id = :i"), {"i": run_id}
                ).one()
            assert (total, distinct) == (12, 12)
            assert row.status == "SUCCEEDED" and row.counts == {"signals": 12}
            assert client.xlen(f"{prefix}:events:SignalCreated") == 12
            assert client.xlen(f"{prefix}:events:ScanCompleted") == 1

            # A duplicate delivery of the finished run changes nothing and publishes nothing.
            again = app.send_task("pipeline_test.slow_scan", kwargs=kwargs, queue="scan")
            repeat = again.get(timeout=20)
            assert repeat["skipped"] == "already succeeded"
            assert int(client.get(f"{prefix}:test:completions:{run_id}") or 0) == 1
            assert client.xlen(f"{prefix}:events:SignalCreated") == 12
            assert second.ready_file.exists()

            # Graceful shutdown: SIGTERM in the middle of a scan lets it finish, then exits.
            late = {**kwargs, "run_id": "sigterm-run", "day": "2026-01-06", "tickers": tickers[:5]}
            app.send_task("pipeline_test.slow_scan", kwargs=late, queue="scan")
            wait_for(
                lambda: client.get(f"{prefix}:runs:sigterm-run:last") is not None,
                20,
                "the second scan to start",
            )
            second.terminate()
            wait_for(lambda: not second.ready_file.exists(), 5, "readiness to drop")
            assert second.process.wait(timeout=30) == 0
        finally:
            second.stop()
        assert int(client.get(f"{prefix}:test:completions:sigterm-run") or 0) == 1
        assert not second.heartbeat_file.exists()
        engine.dispose()


def test_rate_limiter_holds_one_request_per_second_across_two_workers(tmp_path: Path) -> None:
    with private_redis(tmp_path) as server:
        prefix = f"rl{uuid.uuid4().hex[:6]}"
        env = worker_env(
            server.url, None, tmp_path, KRSTOCK_REDIS_PREFIX=prefix, KRSTOCK_LLM_RATE_PER_S="1"
        )
        workers = [start_worker(name, "ai", env, tmp_path) for name in ("r1", "r2")]
        try:
            for worker in workers:
                worker.wait_ready()
            app = create_app(Settings(redis_url=server.url, redis_prefix=prefix))
            calls = 4
            results = [
                app.send_task("pipeline_test.limited_call", kwargs={"n": i}, queue="ai")
                for i in range(calls)
            ]
            for r in results:
                r.get(timeout=30)
            client = redis.Redis.from_url(server.url)
            rows = [raw.decode().split("|") for raw in client.lrange(f"{prefix}:test:calls", 0, -1)]
        finally:
            for worker in workers:
                worker.terminate()  # both drain at once
            for worker in workers:
                worker.stop()
    stamps = sorted(float(r[0]) for r in rows)
    hosts = {r[1] for r in rows}
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == calls
    assert len(hosts) == 2, f"both workers should have served calls, got {hosts}"
    # Capacity 1 at 1/s: consecutive requests at least ~1 s apart, whichever process made them.
    assert min(gaps) >= 0.95, gaps
    assert stamps[-1] - stamps[0] >= (calls - 1) * 0.95
