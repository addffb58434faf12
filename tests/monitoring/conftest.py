"""Monitoring tests: the chart tests' Helm fixtures (reused, not copied), promtool and a
Prometheus server from Debian's ``prometheus`` package (scripts/install-prometheus.sh)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

CHARTS_TESTS = Path(__file__).resolve().parents[1] / "charts"
sys.path.insert(0, str(CHARTS_TESTS))  # chart_helpers, as tests/charts imports it

_spec = importlib.util.spec_from_file_location(
    "krstock_chart_fixtures", CHARTS_TESTS / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_charts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_charts)

helm_bin = _charts.helm_bin
helms = _charts.helms
helm = _charts.helm
render = _charts.render


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: scripts/bootstrap.sh installs Debian's prometheus")
        pytest.skip(f"{name} is missing (bash scripts/install-prometheus.sh)")
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _tool("prometheus")
