"""checkov (offline: ``--skip-download``) on the manifests the chart renders for every values
scenario: no failed check beyond the explained list below, each limited to where it applies.

checkov lives in its own virtual environment (scripts/install-checkov.sh), so its pinned
dependencies never meet the project's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from chart_helpers import ROOT, SCENARIOS, Helm, template_args

ANY = "*"
# check id -> (why it does not apply to this chart, the resources it may fail on)
ACCEPTED: dict[str, tuple[str, set[str] | str]] = {
    "CKV_K8S_11": (
        "CPU limits: requests are set everywhere; a CPU limit only throttles (CFS quota) a pod "
        "that would otherwise use idle CPU, and memory limits already bound every container",
        ANY,
    ),
    "CKV_K8S_15": (
        "imagePullPolicy Always: images are pinned by version tag (never latest) and released "
        "immutably; the policy is a value (image.pullPolicy) for registries that want Always",
        ANY,
    ),
    "CKV_K8S_43": (
        "image digests: tags are pinned; digests are release-time facts (set image.tag to "
        "'0.1.0@sha256:...' to pin one) and a chart default cannot know them",
        ANY,
    ),
    "CKV_K8S_35": (
        "secrets as environment variables: the platform reads its settings as KRSTOCK_* "
        "variables (pydantic-settings), and operator-built workers in other namespaces load "
        "the same Secret with envFrom",
        ANY,
    ),
    "CKV_K8S_38": (
        "service-account token: the operator talks to the API server; every other pod has "
        "automountServiceAccountToken: false",
        {"Deployment.krstock.krstock-operator"},
    ),
    "CKV_K8S_40": (
        "high UID: the official TimescaleDB (postgres, UID 70) and Redis (redis, UID 999) images "
        "own their data directories with those users; the platform's pods run as 10001",
        {"StatefulSet.krstock.krstock-timescaledb", "StatefulSet.krstock.krstock-redis"},
    ),
    "CKV_K8S_8": (
        "liveness probe: the helm test pod runs once and exits",
        {"Pod.krstock.krstock-test"},
    ),
    "CKV_K8S_9": (
        "readiness probe: the helm test pod runs once and exits",
        {"Pod.krstock.krstock-test"},
    ),
}

# Accepted in one scenario only.
ACCEPTED_IN = {
    "no-networkpolicy": {
        "CKV2_K8S_6": (
            "pods without a NetworkPolicy: this scenario turns them off on purpose",
            ANY,
        ),
    },
}


@pytest.fixture(scope="session")
def checkov() -> Path:
    installed = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-checkov.sh")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if installed.returncode != 0:
        pytest.fail(f"scripts/install-checkov.sh failed: {installed.stderr[-2000:]}")
    return Path(installed.stdout.strip().splitlines()[-1])


def _failed(checkov: Path, manifest: Path) -> tuple[dict[str, set[str]], int]:
    result = subprocess.run(
        [str(checkov), "--skip-download", "--framework", "kubernetes", "-f", str(manifest),
         "-o", "json", "--quiet", "--compact"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed: dict[str, set[str]] = {}
    for check in report["results"]["failed_checks"]:
        failed.setdefault(check["check_id"], set()).add(check["resource"])
    return failed, report["summary"]["passed"]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_checkov_finds_nothing_beyond_the_explained_list(
    helm: Helm, checkov: Path, tmp_path: Path, scenario: str
) -> None:
    manifest = tmp_path / f"{scenario}.yaml"
    args = template_args(
        "-f", str(SCENARIOS[scenario]), "--set", "schedules.maintenance.enabled=true"
    )
    manifest.write_text(helm(*args).stdout)
    failed, passed = _failed(checkov, manifest)
    assert passed > 100  # checkov really looked at the objects
    accepted = {**ACCEPTED, **ACCEPTED_IN.get(scenario, {})}
    unexplained = {
        check: resources
        for check, resources in failed.items()
        if check not in accepted
        or (accepted[check][1] != ANY and not resources <= set(accepted[check][1]))
    }
    assert not unexplained, unexplained


def test_checkov_fails_a_bad_manifest(checkov: Path, tmp_path: Path) -> None:
    """The scanner is live: a privileged root container fails checks the chart passes."""
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad, namespace: krstock}\n"
        "spec:\n  containers:\n  - name: c\n    image: busybox\n"
        "    securityContext: {privileged: true, runAsUser: 0}\n"
    )
    failed, _ = _failed(checkov, manifest)
    assert {"CKV_K8S_16", "CKV_K8S_23"} <= set(failed)  # privileged; admission of root containers
