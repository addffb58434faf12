"""The daily pipeline end to end on the synthetic market: through a real worker process, and
in-process (``krstock run daily``), both over the real use cases and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from datetime import date
from pathlib import Path

import orjson
import pytest
import redis
from pipeline_harness import private_redis, start_worker, worker_env
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, text

from krstock.config import Settings
from krstock.db.session import normalize_url
from krstock.worker.celery_app import create_app
from krstock.worker.context import WorkerContext, set_context

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = date(2026, 11, 20)  # the synthetic market's last day (a Friday, a KRX trading day)
SMALL_MARKET = {"n_tickers": 60}
HISTORY_DAYS = 400  # ≥ 260 trading days for the VCP's 52-week range
STEPS = ("collect", "market-gate", "vcp", "vcp-legacy", "closing-bet", "ai-analysis", "track")


@pytest.fixture(autouse=True)
def _needs_collect() -> None:
    pytest.importorskip("krstock.ingest.collect", reason="collection (ingest/collect.py) not built")


def _step_rows(engine, pipeline_id: str) -> dict[str, tuple[str, dict]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(
            text("select id, status, counts from scan_runs where id like :p"),
            {"p": f"{pipeline_id}%"},
        ).all()
    return {r.id.removeprefix(f"{pipeline_id}:"): (r.status, r.counts) for r in rows}


def test_daily_pipeline_through_a_worker_process(tmp_path: Path, db_url: str) -> None:
    with private_redis(tmp_path) as server:
        prefix = f"e2e{uuid.uuid4().hex[:6]}"
        env = worker_env(
            server.url,
            db_url,
            tmp_path,
            KRSTOCK_REDIS_PREFIX=prefix,
            KRSTOCK_VISIBILITY_TIMEOUT_S="120",  # above the longest step, as in production
        )
        worker = start_worker("we", "collect,scan,ai,maintenance", env, tmp_path)
        client = redis.Redis.from_url(server.url)
        engine = create_engine(normalize_url(db_url))
        try:
            worker.wait_ready()
            app = create_app(Settings(redis_url=server.url, redis_prefix=prefix))
            pipeline_id = "daily-e2e-1"
            kwargs = {
                "day": DAY.isoformat(),
                "source": "sample",
                "source_options": SMALL_MARKET,
                "collect_days": HISTORY_DAYS,
                "run_id": pipeline_id,
            }
            viewer = client.pubsub(ignore_subscribe_messages=True)
            viewer.subscribe(f"{prefix}:runs:{pipeline_id}")
            started = app.send_task("krstock.run_pipeline", kwargs=kwargs, queue="maintenance")
            assert started.get(timeout=30)["status"] == "RUNNING"
            deadline = time.monotonic() + 90
            status = None
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    status = conn.execute(
                        text("select status from scan_runs where id = :i"), {"i": pipeline_id}
                    ).scalar_one()
                if status in ("SUCCEEDED", "FAILED"):
                    break
                time.sleep(0.2)
            steps = _step_rows(engine, pipeline_id)
            assert status == "SUCCEEDED", steps
            assert {s: steps[s][0] for s in STEPS} == dict.fromkeys(STEPS, "SUCCEEDED")
            assert steps["ai-analysis"][1]["source"] in ("rules", "none")  # no key: says so
            with engine.connect() as conn:
                prices = conn.execute(text("select count(*) from daily_prices")).scalar_one()
                signals = conn.execute(
                    text("select count(*) from signals where signal_date = :d"), {"d": DAY}
                ).scalar_one()
            assert prices > 60 * 250
            # Events went out once per step; progress reached the live-viewer channel.
            assert client.xlen(f"{prefix}:events:MarketDataUpdated") == 1
            assert client.xlen(f"{prefix}:events:ScanCompleted") == 3
            assert client.xlen(f"{prefix}:events:SignalCreated") == signals
            last = orjson.loads(client.get(f"{prefix}:runs:{pipeline_id}:last"))
            assert last["status"] == "SUCCEEDED" and last["percent"] == 100
            # A live viewer saw the steps go by, never backwards, ending at 100 %.
            seen = []
            quiet_until = time.monotonic() + 1.0
            while time.monotonic() < quiet_until:
                message = viewer.get_message(timeout=0.1)  # None for the subscribe notice
                if message is not None:
                    seen.append(orjson.loads(message["data"]))
            percents = [m["percent"] for m in seen]
            assert percents == sorted(percents) and percents[-1] == 100
            assert {"collect done", "market-gate done", "track done"} <= {
                m["message"] for m in seen
            }
            # The same pipeline id again changes nothing.
            again = app.send_task("krstock.run_pipeline", kwargs=kwargs, queue="maintenance")
            assert again.get(timeout=20)["skipped"] == "already succeeded"

            # A forced run on a closed day has no prices: the failing step's error reaches the
            # pipeline row through the canvas errback.
            failing = {**kwargs, "day": "2026-09-24", "force": True, "collect_days": 1}
            failing["run_id"] = "daily-e2e-fail"
            app.send_task("krstock.run_pipeline", kwargs=failing, queue="maintenance").get(20)
            deadline = time.monotonic() + 60
            row = None
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    row = conn.execute(
                        text("select status, error from scan_runs where id = 'daily-e2e-fail'")
                    ).one()
                if row.status != "RUNNING":
                    break
                time.sleep(0.2)
            assert row is not None and row.status == "FAILED", row
            assert "no daily prices on 2026-09-24" in row.error
        finally:
            worker.stop()
            engine.dispose()


def test_run_daily_in_process_and_skip_on_a_holiday(db_url: str) -> None:
    from krstock.worker.rundaily import run_daily_in_process

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    scans_before = sample("krstock_tasks_total", task="krstock.run_scan", state="SUCCESS")
    published_before = sample("krstock_events_published_total", event_type="ScanCompleted")
    context = WorkerContext(Settings(database_url=db_url, redis_url=None))
    try:
        summary = run_daily_in_process(
            DAY,
            source="sample",
            source_options=SMALL_MARKET,
            collect_days=HISTORY_DAYS,
            context=context,
        )
        assert summary["status"] == "SUCCEEDED", summary
        assert summary["redis"] == "in-process"
        assert {s: summary["steps"][s]["status"] for s in STEPS} == dict.fromkeys(
            STEPS, "SUCCEEDED"
        )
        # Metrics: three scans succeeded and announced themselves.
        assert sample("krstock_tasks_total", task="krstock.run_scan", state="SUCCESS") == (
            scans_before + 3
        )
        assert sample("krstock_events_published_total", event_type="ScanCompleted") == (
            published_before + 3
        )
        assert sample("krstock_task_duration_seconds_count", task="krstock.run_pipeline") >= 1
        holiday = run_daily_in_process(date(2026, 9, 24), source="sample", context=context)
        assert holiday["status"] == "SKIPPED" and "Chuseok" in holiday["reason"]
    finally:
        set_context(None)
