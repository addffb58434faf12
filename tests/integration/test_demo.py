"""``krstock demo`` as a newcomer runs it: on a terminal, with no database or Redis configured.

One real run (embedded PostgreSQL, in-process Redis on loopback, one pipeline day) that serves
the gateway: /ready reports Redis ok, the chatbot answers and keeps memory, clients on this machine
write without a key (the monolith's frontend cannot send one), the dashboard URL is printed; only
warnings and progress come before the summary; SIGTERM stops it and its embedded PostgreSQL.
Then the next start says that it reuses the database.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-c", "from krstock.cli import main; main()"]
LOG_INFO_LINE = re.compile(r"^\d\d:\d\d:\d\d info ", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRSTOCK_")}
    return {**env, "COLUMNS": "200", "TERM": "xterm"}


def _drain(fd: int, chunks: list[bytes]) -> None:
    """Read the terminal while the demo runs: a full terminal buffer would block its writes."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal's other end closed
            return
        if not chunk:
            return
        chunks.append(chunk)


def _wait_ready(port: int, proc: subprocess.Popen[bytes], seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2.0)
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.5)


def _postgres_on(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(pgdata) in (proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_the_demo_serves_a_gateway_with_redis_and_a_working_chatbot(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    port = _free_port()
    controller, terminal = pty.openpty()  # stderr is a terminal, as for a newcomer
    proc = subprocess.Popen(
        [*CLI, "demo", "--days", "1", "--data-dir", str(data_dir), "--port", str(port), "--json"],
        env=_demo_env(),
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(controller, chunks), daemon=True)
    reader.start()
    try:
        ready = _wait_ready(port, proc, seconds=180)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["redis"] == "ok"
        base = f"http://127.0.0.1:{port}"
        chat = httpx.post(f"{base}/api/kr/chatbot", json={"message": "시장 상태"}, timeout=10)
        assert chat.status_code == 200, chat.text
        assert "마켓 게이트" in chat.json()["response"]
        # the chat's memory lives in the demo's in-process Redis: status answers, never 503
        status = httpx.get(f"{base}/api/kr/chatbot/status", timeout=10)
        assert status.status_code == 200, status.text
        remembered = httpx.post(f"{base}/api/kr/chatbot/memory", json={"style": "short"})
        assert remembered.status_code == 200, remembered.text
        memory = httpx.get(f"{base}/api/kr/chatbot/memory", timeout=10).json()["memory"]
        assert memory["style"]["value"] == "short"
        # the monolith's frontend presses "run" without a key: loopback is trusted in the demo
        run = httpx.post(f"{base}/api/kr/jongga-v2/run", timeout=10)
        assert run.status_code == 202, run.text
        assert httpx.post(f"{base}/api/v1/admin/cache/invalidate").status_code == 401
        cards = httpx.get(f"{base}/api/kr/backtest-summary", timeout=10).json()
        tracked = cards["closing_bet"]["tracked"]
        versions = httpx.get(f"{base}/api/data-version", timeout=10).json()["versions"]
        assert versions["signals_log.csv"] > 0 and versions["daily_prices.csv"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    reader.join(timeout=10)
    os.close(controller)
    stderr = b"".join(chunks).decode(errors="replace")

    summary = json.loads(stdout)
    assert re.fullmatch(r"in-process Redis \(fakeredis\) on 127\.0\.0\.1:\d+", summary["redis"])
    assert summary["database"] == f"embedded ({data_dir / 'pgdata'})"
    assert [run["status"] for run in summary["pipeline"]] == ["SUCCEEDED"]
    # one closing-bet record: the overview card's tracked figures are the summary's (one day
    # closes none; test_api_monolith_frontend closes some)
    printed = summary["performance"].get("closing-bet", {"closed_trades": 0, "avg_return_pct": 0})
    assert tracked["count"] == printed["closed_trades"]
    assert tracked["avg_return"] == pytest.approx(printed["avg_return_pct"] or 0, abs=0.011)
    assert cards["closing_bet"]["basis"] == "heuristic"
    plain = ANSI.sub("", stderr)  # a terminal gets colours
    assert f"Dashboard: http://127.0.0.1:{port}/dashboard/kr" in plain
    assert "writes from this machine need no key" in plain
    before_serving = stderr.split("serving the gateway", 1)[0]
    assert not LOG_INFO_LINE.search(before_serving), before_serving[-3000:]
    assert "reusing" not in before_serving
    assert "Traceback" not in stderr
    assert proc.returncode == 128 + signal.SIGTERM
    assert not _postgres_on(data_dir / "pgdata"), "SIGTERM left the embedded PostgreSQL running"

    # The next run reuses that database and says so; it fails fast on an impossible --end.
    again = subprocess.run(
        [*CLI, "demo", "--no-serve", "--data-dir", str(data_dir), "--end", "not-a-date"],
        env=_demo_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "reusing the demo database of an earlier run" in again.stderr
    assert "--fresh" in again.stderr
    assert not _postgres_on(data_dir / "pgdata")
