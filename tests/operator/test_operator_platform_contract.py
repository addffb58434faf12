"""The operator's vocabulary matches the platform it drives (run kinds, queues, worker probes).

The operator image does not import these modules (only the SignalPolicy model); the tests do, so a
renamed run kind or queue on either side fails here instead of in a cluster.
"""

from __future__ import annotations

import pytest

from krstock.app import kinds, runs
from krstock.config import WorkerSection
from krstock_operator.config import OperatorSettings
from krstock_operator.scanjob_schema import QUEUES, RUN_KINDS, SCANNERS
from krstock_operator.spec import parse_spec


def test_every_scanner_is_a_run_kind_of_the_api() -> None:
    assert set(RUN_KINDS) == set(SCANNERS)
    assert set(RUN_KINDS.values()) <= set(kinds.API_NAMES.values())


def test_the_queues_are_the_workers_queues() -> None:
    assert set(QUEUES) == set(kinds.QUEUES)


@pytest.mark.parametrize("scanner", SCANNERS)
def test_a_scanjob_runs_workers_for_the_queue_its_task_lands_on(scanner: str) -> None:
    task = kinds.task_for(kinds.parse_kind(RUN_KINDS[scanner]))
    assert kinds.queue_for(task) in parse_spec({"scanner": scanner}).queues


def test_probe_files_are_where_the_worker_writes_them() -> None:
    operator, worker = OperatorSettings(), WorkerSection()
    assert operator.worker_heartbeat_file == worker.worker_heartbeat_file
    assert operator.worker_ready_file == worker.worker_ready_file
    # Liveness tolerates several missed heartbeats, never fewer than two.
    assert operator.worker_heartbeat_max_age_s >= 2 * worker.worker_heartbeat_interval_s


def test_example_parameters_reach_their_task() -> None:
    """The API refuses arguments a run does not take: the examples must use none."""
    from pathlib import Path

    import yaml

    for path in sorted((Path(__file__).resolve().parents[2] / "examples").glob("scanjob-*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))["spec"]
        accepted = runs.extra_params(kinds.parse_kind(RUN_KINDS[spec["scanner"]]))
        assert set(spec.get("parameters", {})) <= set(accepted), path.name


def test_scheduled_runs_skip_closed_days_except_backtests() -> None:
    from krstock_operator.manifests import TRADING_DAY_SCANNERS

    assert set(SCANNERS) - {"backtest"} == TRADING_DAY_SCANNERS


class _RunsApi:
    """A loopback HTTP server speaking the API's POST /api/v1/runs (records the bodies)."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        bodies: list[dict[str, object]] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                length = int(self.headers["Content-Length"])
                bodies.append(json.loads(self.rfile.read(length)))
                answer = json.dumps({"id": "run-1", "status": "PENDING"}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("now_utc", "started", "date"),
    [
        ("2026-12-04T00:30:00+00:00", True, "2026-12-04"),  # Friday 09:30 KST
        ("2026-12-04T15:30:00+00:00", False, None),  # Saturday 00:30 KST (Friday in UTC)
        ("2026-12-24T23:00:00+00:00", False, None),  # Christmas, 08:00 KST
    ],
)
def test_enqueue_skips_closed_days_and_sends_today(now_utc: str, started: bool, date: str) -> None:
    from datetime import datetime

    from krstock_operator import enqueue

    api = _RunsApi()
    try:
        args = enqueue.parse_args([
            "--api", api.url, "--kind", "collect", "--scanjob", "krstock/price-refresh",
            "--skip-closed-days", "--time-zone", "Asia/Seoul", "--date", "today",
        ])  # fmt: skip
        assert enqueue.enqueue(args, now=datetime.fromisoformat(now_utc)) == 0
    finally:
        api.close()
    assert [b.get("date") for b in api.bodies] == ([date] if started else [])
