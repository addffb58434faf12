"""`krstock serve`: the real command starts a service on loopback; without a database it says so."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-c", "from krstock.cli import main; main()"]


def _serve(service: str, db_url: str, redis_url: str) -> tuple[subprocess.Popen[bytes], int]:
    """``krstock serve <service>`` on a free loopback port, once it answers /ready."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KRSTOCK_DATABASE_URL": db_url, "KRSTOCK_REDIS_URL": redis_url}
    proc = subprocess.Popen(
        [*CLI, "serve", service, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1.0)
            return proc, port
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.terminate()
                raise
            time.sleep(0.2)


def test_serve_starts_a_service_that_answers_its_probes(db_url: str, redis_url: str) -> None:
    proc, port = _serve("analyzer", db_url, redis_url)
    try:
        ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1.0)
        assert ready.status_code == 200 and ready.json()["service"] == "analyzer"
        assert httpx.get(f"http://127.0.0.1:{port}/analyses").json()["count"] == 0
        assert "krstock_http_requests_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_forwarded_for_header_is_not_believed_unless_configured(
    db_url: str, redis_url: str
) -> None:
    """The server must not take the client's address from X-Forwarded-For on its own (uvicorn
    does for loopback peers by default): only KRSTOCK_TRUST_FORWARDED_FOR decides. Otherwise a
    client naming another's address reads that address's anonymous chat."""
    proc, port = _serve("gateway", db_url, redis_url)
    url = f"http://127.0.0.1:{port}/api/kr/chatbot/memory"
    victim = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    try:
        written = victim.post(url, json={"memory": {"secret": "s3cret"}})
        assert written.is_success, written.text
        assert "s3cret" in victim.get(url).text
        spoofed = httpx.get(url, headers={"X-Forwarded-For": "127.0.0.2"})
        assert spoofed.status_code == 200 and "s3cret" not in spoofed.text
    finally:
        victim.close()
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_without_a_database_is_a_clear_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KRSTOCK_DATABASE_URL"}
    env["KRSTOCK_DATABASE_URL"] = ""
    done = subprocess.run(
        [*CLI, "serve", "gateway"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "KRSTOCK_DATABASE_URL" in done.stderr
