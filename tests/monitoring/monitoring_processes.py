"""Real processes for the live monitoring tests: a migrated database with the synthetic market
and a few days of the pipeline, the gateway, a prefork worker, the operator, and Prometheus."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx

CLI = [sys.executable, "-c", "from krstock.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], what: str, timeout_s: float, proc: Any = None) -> Any:
    """Poll ``check`` until it returns something truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(httpx.HTTPError, OSError, ValueError, KeyError):
            result = check()
            if result:
                return result
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout_s:.0f} s")
        time.sleep(0.25)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def private_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of our own on a free loopback port: the worker's Celery queues (``scan``)
    and the bus streams must not meet other test modules' workers in the shared test database."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")

    wait_for(answers, "redis-server", 15, proc)
    return proc, url


def load_market(url: str, start_day: date, end_day: date, tickers: int) -> list[date]:
    """Collect the synthetic market into ``url`` with the product's collect, then run the
    daily pipeline in-process (gate, scans, analysis, tracking; no collection) over the last
    trading days. Returns the days run."""
    from krstock.app.kinds import RunKind
    from krstock.app.runs import RunRequest, run_pipeline
    from krstock.db.session import make_engine
    from krstock.domain.calendar import krx_trading_dates
    from krstock.ingest.collect import collect
    from krstock.marketdata.sample import SampleMarket

    engine = make_engine(url, pool_size=2, max_overflow=2)
    try:
        market = SampleMarket(n_tickers=tickers, start=start_day, end=end_day)
        collect(engine, market, start_day, end_day)
        days = krx_trading_dates(start_day, end_day)[-8:]
        for day in days:
            result = run_pipeline(engine, RunRequest(kind=RunKind.PIPELINE, day=day))
            assert result.get("status") != "FAILED", result
        return days
    finally:
        engine.dispose()


def prometheus_config(folder: Path, targets: dict[str, int], rules: dict[str, Any]) -> Path:
    """A scrape config for the given jobs (1 s) with the chart's rules evaluated every second."""
    import yaml

    fast = {"groups": [{**g, "interval": "1s"} for g in rules["groups"]]}
    (folder / "rules.yaml").write_text(yaml.safe_dump(fast, sort_keys=False))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(folder / "rules.yaml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for job, port in targets.items()
        ],
    }
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def environment(db_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "KRSTOCK_DATABASE_URL": db_url,
        "KRSTOCK_REDIS_URL": redis_url,
        "KRSTOCK_LOG_LEVEL": "WARNING",
    }
