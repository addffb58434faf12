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
