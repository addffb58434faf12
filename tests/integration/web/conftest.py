"""Browser fixtures: chromium (skipped outside CI when absent, a failure in CI), Playwright,
a seeded database per module, and the artifacts folder (``KRSTOCK_BROWSER_ARTIFACTS`` or a
folder under pytest's tmp dir) for screenshots and figures."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from dashboard_harness import CHROMIUM, launch
from helpers.api_seed import SeedSummary, seed

from krstock.db.session import make_engine


def _missing(reason: str) -> None:
    """Absent tools skip outside CI and fail in CI (``CI`` set), where they must be present."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; in CI it must be installed (bash scripts/bootstrap.sh)")
    pytest.skip(f"{reason} (bash scripts/install-chromium.sh installs it; required in CI)")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing(f"{CHROMIUM} is absent")
    if importlib.util.find_spec("playwright") is None:
        _missing("the playwright package is not installed")
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("KRSTOCK_BROWSER_ARTIFACTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def seeded(
    fresh_database: Callable[[], AbstractContextManager[str]],
) -> Iterator[tuple[str, SeedSummary]]:
    with fresh_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=1)
        summary = seed(engine)
        engine.dispose()
        yield url, summary


@pytest.fixture(scope="module")
def playwright_instance(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_instance: Any, chromium_path: str) -> Iterator[Any]:
    b = launch(playwright_instance, chromium_path)
    yield b
    b.close()
