"""The operator's run-records client against the real gateway (real PostgreSQL, real HTTP).

The loop tests use a fake API speaking this protocol; this test pins the protocol to the real
``GET /api/v1/runs?scanjob=NAMESPACE/NAME`` so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from helpers.api_apps import Built, build_app, make_keys
from sqlalchemy.orm import Session

from krstock.db.models import ScanRun
from krstock_operator import enqueue
from krstock_operator.runs import RUN_STATES, RunsClient, RunsUnavailable

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gateway_url(db_url: str, redis_url: str) -> Iterator[tuple[str, Built]]:
    built = build_app("gateway", db_url, redis_url)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(built.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the gateway did not start"
    try:
        yield f"http://127.0.0.1:{port}", built
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        built.state.close()


def _add_runs(built: Built) -> None:
    t0 = dt.datetime(2026, 11, 26, 7, 0, tzinfo=dt.UTC)
    with Session(built.state.engine) as session:
        session.add_all(
            [
                ScanRun(
                    id="run-old",
                    kind="vcp",
                    status="SUCCEEDED",
                    counts={"signals": 3},
                    scanjob="markets/daily-vcp",
                    created_at=t0,
                    started_at=t0 + dt.timedelta(seconds=1),
                    finished_at=t0 + dt.timedelta(seconds=50),
                ),
                ScanRun(
                    id="run-new",
                    kind="vcp",
                    status="RUNNING",
                    counts={},
                    scanjob="markets/daily-vcp",
                    created_at=t0 + dt.timedelta(days=1),
                    started_at=t0 + dt.timedelta(days=1, seconds=2),
                ),
                ScanRun(id="run-other", kind="vcp", status="FAILED", scanjob="markets/other"),
            ]
        )
        session.commit()


async def test_runs_client_reads_the_real_gateway(gateway_url: tuple[str, Built]) -> None:
    url, built = gateway_url
    _add_runs(built)
    client = RunsClient(url, api_key=None, timeout_s=5)
    newest = await client.latest_run("markets", "daily-vcp")
    assert newest is not None
    assert newest.id == "run-new" and newest.state == "RUNNING"
    assert newest.as_status()["startedAt"].startswith("2026-11-27T07:00:02")
    assert "finishedAt" not in newest.as_status()
    assert await client.latest_run("markets", "nothing-yet") is None
    other = await client.latest_run("markets", "other")
    assert other is not None and other.state == "FAILED"

    with pytest.raises(RunsUnavailable, match="HTTP 404"):
        await RunsClient(f"{url}/nowhere", api_key=None, timeout_s=5).latest_run("a", "b")


async def test_enqueue_pod_starts_a_run_the_status_then_finds(
    gateway_url: tuple[str, Built],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What a CronJob pod runs, against the real API: the run is recorded with its ScanJob."""
    url, built = gateway_url
    args = ["--api", url, "--kind", "market_gate", "--scanjob", "markets/gate-daily"]
    monkeypatch.delenv("KRSTOCK_API_KEY", raising=False)
    assert enqueue.main(args) == 1  # starting runs needs a write key
    assert '"status": 401' in capsys.readouterr().out
    monkeypatch.setenv("KRSTOCK_API_KEY", make_keys(built.state)["write"])
    assert enqueue.main(args) == 0
    answer = capsys.readouterr().out
    assert '"status": 202' in answer
    run = await RunsClient(url, api_key=None, timeout_s=5).latest_run("markets", "gate-daily")
    assert run is not None and run.state in RUN_STATES
    assert run.id in answer
