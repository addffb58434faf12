"""Test harness for the pipeline tests (no tests here): a private redis-server, Celery worker
processes, and two test-only tasks that run through the production mechanics
(``execute_run``, ``TokenBucket``) with a workload the test controls.

Worker processes import this module with ``--include pipeline_harness`` (PYTHONPATH set).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import redis
from celery import shared_task
from sqlalchemy import text

from krstock.app.recorder import record_run
from krstock.worker.context import get_context
from krstock.worker.execution import execute_run
from krstock.worker.run_events import scan_events
from krstock.worker.tasks import RETRY_OPTIONS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server of our own (AOF on, so a restart keeps what was acknowledged)."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on {self.port} did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    from shutil import which

    if which("redis-server") is None:
        import pytest

        pytest.skip("redis-server binary not installed (apt-get install redis-server)")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def worker_env(redis_url: str, db_url: str | None, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRSTOCK_")}
    env.update(
        {
            "KRSTOCK_REDIS_URL": redis_url,
            "KRSTOCK_VISIBILITY_TIMEOUT_S": "3",
            "KRSTOCK_UNACKED_RESTORE_INTERVAL_S": "1",
            "KRSTOCK_LOCK_TTL_S": "1.5",
            "KRSTOCK_TASK_TIME_LIMIT_SCAN_S": "60",
            "KRSTOCK_LOG_FORMAT": "console",
            "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
        }
    )
    if db_url:
        env["KRSTOCK_DATABASE_URL"] = db_url
    env.update(extra)
    return env


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    ready_file: Path
    heartbeat_file: Path
    log: Path

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"worker {self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the worker's whole process group (main process and pool children)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def terminate(self) -> None:
        """SIGTERM to the main process only, as the kubelet does to a container's PID 1."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.process.wait(timeout=5)
        return int(self.process.returncode)


def start_worker(name: str, queues: str, env: dict[str, str], tmp: Path) -> Worker:
    ready, heartbeat, log = tmp / f"{name}.ready", tmp / f"{name}.hb", tmp / f"{name}.log"
    env = {
        **env,
        "KRSTOCK_WORKER_READY_FILE": str(ready),
        "KRSTOCK_WORKER_HEARTBEAT_FILE": str(heartbeat),
        "KRSTOCK_WORKER_HEARTBEAT_INTERVAL_S": "0.5",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "krstock"),
                "worker",
                "--queues",
                queues,
                "--concurrency",
                "1",
                "--name",
                f"{name}@%h",
                "--include",
                "pipeline_harness",
            ],
            env=env,
            cwd=str(ROOT),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the test can kill it whole
        )
    return Worker(name, process, ready, heartbeat, log)


# Test-only tasks ------------------------------------------------------------------------------
@shared_task(name="pipeline_test.slow_scan", **RETRY_OPTIONS)
def slow_scan(
    self: Any, *, day: str, run_id: str, tickers: list[str], delay_s: float
) -> dict[str, Any]:
    """A scan-shaped workload: signals inserted one by one in ONE transaction, slowly, so a kill
    mid-way leaves nothing; counts starts and completions in Redis."""
    ctx = get_context()
    the_day = date.fromisoformat(day)
    prefix = ctx.settings.worker.redis_prefix

    def runner(progress: Any) -> dict[str, Any]:
        ctx.redis.incr(f"{prefix}:test:starts:{run_id}")
        record_run(ctx.engine, run_id, kind="vcp", status="RUNNING", day=the_day)
        with ctx.engine.begin() as conn:
            for i, ticker in enumerate(tickers):
                conn.execute(
                    text(
                        "INSERT INTO signals (strategy, ticker, signal_date, status, "
                        "score_breakdown, payload, run_id) "
                        "VALUES ('vcp', :t, :d, 'OPEN', '{}', '{}', :r)"
                    ),
                    {"t": ticker, "d": the_day, "r": run_id},
                )
                progress(100.0 * (i + 1) / len(tickers), f"{ticker} scanned")
                time.sleep(delay_s)
        counts = {"signals": len(tickers)}
        record_run(
            ctx.engine,
            run_id,
            kind="vcp",
            status="SUCCEEDED",
            day=the_day,
            progress=100.0,
            counts=counts,
        )
        ctx.redis.incr(f"{prefix}:test:completions:{run_id}")
        return {"counts": counts, "signals": [{"ticker": t} for t in tickers]}

    return execute_run(
        ctx,
        run_id=run_id,
        kind="vcp",
        lock_name=f"scan:vcp:{day}",
        runner=runner,
        events_for=scan_events(run_id, "vcp", the_day, None),
    )


@shared_task(name="pipeline_test.limited_call", bind=True)
def limited_call(self: Any, *, n: int) -> float:
    """One 'LLM request': waits for the shared bucket, then stamps the Redis clock."""
    from krstock.worker.tasks import llm_rate_limiter

    ctx = get_context()
    llm_rate_limiter(ctx).acquire(timeout_s=30)
    seconds, micros = ctx.redis.time()
    stamp = seconds + micros / 1e6
    ctx.redis.rpush(
        f"{ctx.settings.worker.redis_prefix}:test:calls", f"{stamp:.6f}|{self.request.hostname}|{n}"
    )
    return stamp
