"""Writes without a key from configured trusted client networks (issue 20 item 2), through the
real gateway: allowed from a trusted address, refused from another, refused when the setting is
off, and X-Forwarded-For believed only from a configured trusted proxy.

The probe is ``POST /api/kr/jongga-v2/analyze`` without a body: past the key check it answers
400 "Stock code is required" (nothing starts); refused, it is the 401 of a missing key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers.api_apps import Built, build_app, make_keys

pytestmark = pytest.mark.integration

PROBE = "/api/kr/jongga-v2/analyze"
ADMIN = "/api/v1/admin/cache/invalidate"
LOOPBACK = ["127.0.0.0/8", "::1/128"]
PROXY = "10.20.30.40"


@pytest.fixture(scope="module")
def database(fresh_database: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def apps(database: str, redis_url: str) -> Iterator[dict[str, Built]]:
    configs: dict[str, dict[str, Any]] = {
        "off": {},
        "loopback": {"write_trusted_networks": LOOPBACK},
        "behind_proxy": {"write_trusted_networks": LOOPBACK, "trusted_proxies": [PROXY]},
    }
    built = {
        name: build_app("gateway", database, redis_url, api=api) for name, api in configs.items()
    }
    built["off"].keys = make_keys(built["off"].state, "trusted")
    yield built
    for one in built.values():
        one.state.close()


def _client(built: Built, host: str) -> TestClient:
    return TestClient(built.app, client=(host, 50123))


def _probe(built: Built, host: str, headers: dict[str, str] | None = None) -> Any:
    with _client(built, host) as client:
        return client.post(PROBE, headers=headers or {})


def test_a_trusted_address_writes_without_a_key(apps: dict[str, Built]) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1"):
        r = _probe(apps["loopback"], host)
        assert r.status_code == 400, (host, r.text)
        assert r.json() == {"error": "Stock code is required"}


def test_another_address_is_refused(apps: dict[str, Built]) -> None:
    for host in ("192.168.1.10", "10.0.0.1", "2001:db8::1"):
        r = _probe(apps["loopback"], host)
        assert r.status_code == 401, (host, r.text)
        assert "'write' scope is required" in r.json()["error"]


def test_refused_when_the_setting_is_off(apps: dict[str, Built]) -> None:
    r = _probe(apps["off"], "127.0.0.1")
    assert r.status_code == 401
    # a key still works, as always
    ok = _probe(apps["off"], "127.0.0.1", {"X-API-Key": apps["off"].keys["write"]})
    assert ok.status_code == 400


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(apps: dict[str, Built]) -> None:
    spoofed = {"X-Forwarded-For": "127.0.0.1"}
    r = _probe(apps["loopback"], "192.168.1.10", spoofed)
    assert r.status_code == 401, r.text
    # ...and a trusted peer is not made untrusted by a header either
    assert (
        _probe(apps["loopback"], "127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}).status_code == 400
    )
    # a proxy that is not configured as trusted relays a trusted-looking address: refused
    assert _probe(apps["behind_proxy"], "10.20.30.41", spoofed).status_code == 401


def test_a_trusted_proxy_names_the_client(apps: dict[str, Built]) -> None:
    app = apps["behind_proxy"]
    assert _probe(app, PROXY, {"X-Forwarded-For": "127.0.0.1"}).status_code == 400
    # the proxy's own entry is the last one; what the client put before it does not count
    assert _probe(app, PROXY, {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}).status_code == 401
    assert _probe(app, PROXY, {"X-Forwarded-For": "203.0.113.9"}).status_code == 401
    assert _probe(app, PROXY, {"X-Forwarded-For": "not-an-address"}).status_code == 401


def test_a_trusted_address_never_gets_admin_and_a_bad_key_is_still_refused(
    apps: dict[str, Built],
) -> None:
    with _client(apps["loopback"], "127.0.0.1") as client:
        admin = client.post(ADMIN)
        assert admin.status_code == 401
        bad = client.post(PROBE, headers={"X-API-Key": "ks_deadbeef_" + "x" * 40})
        assert bad.status_code == 401 and "not valid" in bad.json()["error"]


def test_the_chart_never_turns_it_on() -> None:
    chart = Path(__file__).resolve().parents[3] / "charts" / "krstock"
    texts = [p.read_text(encoding="utf-8") for p in chart.rglob("*") if p.is_file()]
    assert texts, chart
    assert not any("WRITE_TRUSTED_NETWORKS" in t or "write_trusted_networks" in t for t in texts)


def test_the_data_status_update_buttons_pass_too(apps: dict[str, Built]) -> None:
    """Update / Update All are GET streams with the write check (EventSource sends no key)."""
    single = "/api/system/update-single"
    with _client(apps["loopback"], "127.0.0.1") as client:
        r = client.get(single, params={"type": "no-such-step"})
        assert r.status_code == 400 and "unknown type" in r.text  # past the key check
    with _client(apps["loopback"], "192.168.1.10") as client:
        assert client.get(single, params={"type": "no-such-step"}).status_code == 401
        assert client.get("/api/system/update-data-stream").status_code == 401
