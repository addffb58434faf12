"""``krstock demo``'s serving defaults: keyless writes from loopback only, the dashboard URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from krstock.commands import demo
from krstock.config import get_settings


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    # set, then removed: monkeypatch then restores the variable's absence after the test,
    # whatever the demo code wrote into os.environ meanwhile
    monkeypatch.setenv(demo.TRUSTED_NETWORKS_ENV, "")
    monkeypatch.delenv(demo.TRUSTED_NETWORKS_ENV)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_the_demo_trusts_loopback_only(clean_settings: pytest.MonkeyPatch) -> None:
    assert get_settings().api.write_trusted_networks == []  # off by default
    demo._trust_loopback_writes("0.0.0.0")
    assert get_settings().api.write_trusted_networks == ["127.0.0.0/8", "::1/128"]
    assert get_settings().api.trusted_proxies == []  # X-Forwarded-For is never believed


def test_a_configured_value_wins(clean_settings: pytest.MonkeyPatch) -> None:
    clean_settings.setenv(demo.TRUSTED_NETWORKS_ENV, "")
    demo._trust_loopback_writes("127.0.0.1")
    assert get_settings().api.write_trusted_networks == []


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000/dashboard/kr"),
        ("0.0.0.0", "http://127.0.0.1:8000/dashboard/kr"),
        ("::1", "http://[::1]:8000/dashboard/kr"),
        ("localhost", "http://localhost:8000/dashboard/kr"),
    ],
)
def test_dashboard_url(host: str, url: str) -> None:
    assert demo.dashboard_url(host, 8000) == url


def test_loopback_hosts() -> None:
    assert demo._is_loopback("127.0.0.1") and demo._is_loopback("::1")
    assert demo._is_loopback("localhost")
    assert not demo._is_loopback("0.0.0.0") and not demo._is_loopback("example.org")


def test_nothing_leaks_into_later_tests() -> None:
    import os

    assert demo.TRUSTED_NETWORKS_ENV not in os.environ
