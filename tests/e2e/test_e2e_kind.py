"""A real cluster (kind): the chart's operator converges an example ScanJob.

Skipped unless ``KRSTOCK_E2E_KUBECONFIG`` points at a cluster where the chart is installed
(``bash tests/e2e/kind-e2e.sh`` does everything). With ``KRSTOCK_E2E_WAIT_RUN=1`` (the full
platform installed: API, Redis, workers' settings) it also waits for the run to finish.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG = os.environ.get("KRSTOCK_E2E_KUBECONFIG")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not KUBECONFIG, reason="KRSTOCK_E2E_KUBECONFIG is not set (no cluster)"),
]


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = os.environ.get("KRSTOCK_E2E_KUBECTL") or shutil.which("kubectl") or "kubectl"
    return subprocess.run(
        [binary, f"--kubeconfig={KUBECONFIG}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def scanjob(namespace: str, name: str) -> dict[str, Any]:
    return json.loads(kubectl("-n", namespace, "get", "scanjob", name, "-o", "json").stdout)


def wait(predicate: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def namespace() -> Any:
    name = f"krstock-e2e-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_example_scanjob_converges(namespace: str) -> None:
    for example in ("signalpolicy-default.yaml", "scanjob-closing-bet-once.yaml"):
        kubectl("-n", namespace, "apply", "-f", str(ROOT / "examples" / example))

    def ready() -> bool:
        conditions = scanjob(namespace, "closing-bet-now").get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait(ready, "Ready=True", 120)
    status = scanjob(namespace, "closing-bet-now")["status"]
    assert any(child.startswith("Job/closing-bet-now-run-") for child in status["children"])
    deployments = json.loads(
        kubectl("-n", namespace, "get", "deployments", "-l", "krstock.io/scanjob=closing-bet-now",
                "-o", "json").stdout
    )["items"]  # fmt: skip
    assert [d["metadata"]["name"] for d in deployments] == ["closing-bet-now-worker-scan"]
    # The printer columns work against the real API server.
    table = kubectl("-n", namespace, "get", "scanjobs").stdout
    assert "SCANNER" in table and "closing-bet" in table

    if os.environ.get("KRSTOCK_E2E_WAIT_RUN") == "1":
        finished = wait(
            lambda: (
                scanjob(namespace, "closing-bet-now")["status"].get("lastRun", {}).get("state")
                in ("SUCCEEDED", "FAILED")
            ),
            "the run to finish",
            900,
        )
        assert finished
        assert scanjob(namespace, "closing-bet-now")["status"]["lastRun"]["state"] == "SUCCEEDED"

    # Deleting the ScanJob lets the garbage collector remove its children (owner references).
    kubectl("-n", namespace, "delete", "scanjob", "closing-bet-now")
    wait(
        lambda: (
            not json.loads(kubectl("-n", namespace, "get", "deployments", "-o", "json").stdout)[
                "items"
            ]
        ),
        "children garbage-collected",
        120,
    )
