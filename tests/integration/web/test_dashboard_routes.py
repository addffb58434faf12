"""The page routes without a browser: redirects, the pages' own CSP, the poll bound, the static
files (the vendored library byte for byte, with a cache lifetime), and the labels that follow
the gateway's settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers.api_apps import build_app
from helpers.api_seed import SeedSummary

from krstock.api.web import CONTENT_SECURITY_POLICY, PAGES, STATIC_URL

pytestmark = pytest.mark.integration

VENDOR = Path(__file__).resolve().parents[3] / "services/krstock/api/web/static/vendor"
LIBRARY = "lightweight-charts/lightweight-charts.standalone.production.js"


@pytest.fixture(scope="module")
def client(seeded: tuple[str, SeedSummary], redis_url: str) -> Iterator[TestClient]:
    built = build_app("gateway", seeded[0], redis_url)
    try:
        with TestClient(built.app) as test_client:
            yield test_client
    finally:
        built.state.close()


def test_root_and_dashboard_redirect_to_the_overview(client: TestClient) -> None:
    for path in ("/", "/dashboard"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/dashboard/kr"
    assert client.head("/", follow_redirects=False).status_code == 307


def test_every_page_renders_with_its_own_policy_and_navigation(client: TestClient) -> None:
    for path, _template, title, _label in PAGES:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self';" in r.headers["content-security-policy"]
        assert f"<title>{title} · krstock</title>" in r.text
        assert f'<a href="{path}" aria-current="page">' in r.text
        assert "<script>" not in r.text  # no inline script: the policy would refuse it
        # The synthetic-data banner follows the gateway's market source (sample here).
        assert 'id="source-banner"' in r.text
    assert client.get("/api/kr/market-gate").headers["content-security-policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )  # the API keeps its own, stricter policy


def test_poll_interval_is_bounded(client: TestClient) -> None:
    assert 'data-poll-s="5"' in client.get("/dashboard/kr/vcp?poll_s=5").text
    assert 'data-poll-s="60"' in client.get("/dashboard/kr/vcp").text
    for bad in ("0", "3601", "x"):
        assert client.get(f"/dashboard/kr/vcp?poll_s={bad}").status_code == 422


def test_static_files_are_the_vendored_bytes_with_a_cache_lifetime(client: TestClient) -> None:
    r = client.get(f"{STATIC_URL}/vendor/{LIBRARY}")
    assert r.status_code == 200
    assert r.content == (VENDOR / LIBRARY).read_bytes()
    assert r.headers["cache-control"] == "public, max-age=3600"
    licence = client.get(f"{STATIC_URL}/vendor/lightweight-charts/LICENSE")
    assert licence.status_code == 200 and "Apache License" in licence.text
    assert client.get(f"{STATIC_URL}/nope.js").status_code == 404
    assert client.get(f"{STATIC_URL}/../__init__.py").status_code == 404


def test_keys_for_reads_show_on_the_page(seeded: tuple[str, SeedSummary], redis_url: str) -> None:
    built = build_app(
        "gateway",
        seeded[0],
        redis_url,
        settings={"api_require_key_for_reads": True, "market_source": "krx"},
    )
    try:
        with TestClient(built.app) as c:
            page = c.get("/dashboard/kr")
            assert page.status_code == 200  # the shell itself needs no key
            assert 'data-keys-for-reads="true"' in page.text
            assert "KRSTOCK_API_REQUIRE_KEY_FOR_READS" in page.text
            assert 'id="source-banner"' not in page.text  # krx data is not labelled synthetic
            assert c.get("/api/kr/market-gate").status_code == 401
    finally:
        built.state.close()
