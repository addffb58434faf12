"""Auth, scopes, revocation, rate limits, headers and error bodies, through the real app."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from fastapi.testclient import TestClient
from helpers.api_apps import Built, build_app, make_keys
from helpers.api_seed import seed
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from krstock.api.infra.apikeys import revoke_key
from krstock.db.session import make_engine

pytestmark = pytest.mark.integration

# Routes that are reads even though they are POSTs (a body of tickers, a chat message).
READ_POSTS = {
    "/api/kr/realtime-prices",
    "/api/realtime-prices",
    "/api/kr/chatbot",
    "/api/kr/chatbot/memory",
}


@pytest.fixture(scope="module")
def database(fresh_database: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    with fresh_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=1)
        seed(engine, tickers=40, days=80)
        engine.dispose()
        yield url


@pytest.fixture(scope="module")
def gw(database: str, redis_url: str) -> Iterator[tuple[TestClient, Built]]:
    built = build_app("gateway", database, redis_url)
    built.keys = make_keys(built.state)
    with TestClient(built.app) as client:
        yield client, built
    built.state.close()


def test_write_route_without_key_is_401_and_says_why(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    r = client.post("/api/v1/runs", json={"kind": "vcp"})
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["code"] == "missing_api_key"
    assert "X-API-Key" in error["message"] and error["request_id"] == r.headers["x-request-id"]
    legacy = client.post("/api/kr/vcp-scan")
    assert legacy.status_code == 401
    assert "'write' scope is required" in legacy.json()["error"]  # monolith body: a string


def test_wrong_scope_is_403_and_names_the_scope(gw: tuple[TestClient, Built]) -> None:
    client, built = gw
    r = client.post("/api/v1/runs", json={"kind": "vcp"}, headers={"X-API-Key": built.keys["read"]})
    assert r.status_code == 403
    assert "lacks the 'write' scope" in r.json()["error"]["message"]
    admin = client.post(
        "/api/v1/admin/cache/invalidate", headers={"X-API-Key": built.keys["write"]}
    )
    assert admin.status_code == 403 and "'admin'" in admin.json()["error"]["message"]
    ok = client.post(
        "/api/v1/admin/cache/invalidate",
        headers={"Authorization": f"Bearer {built.keys['admin']}"},
    )
    assert ok.status_code == 200 and "removed" in ok.json()


def test_unknown_malformed_and_revoked_keys_are_401(gw: tuple[TestClient, Built]) -> None:
    client, built = gw
    bad = client.get("/api/v1/stocks", headers={"X-API-Key": "nope"})
    assert bad.status_code == 401 and "malformed" in bad.json()["error"]["message"]
    forged = built.keys["read"][:-4] + "AAAA"
    unknown = client.get("/api/v1/stocks", headers={"X-API-Key": forged})
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "unknown_api_key"
    keys = make_keys(built.state, prefix="revoke")
    assert client.get("/api/v1/stocks", headers={"X-API-Key": keys["read"]}).status_code == 200
    with Session(built.state.engine) as session:
        revoke_key(session, keys["read"].split("_")[1])
        session.commit()
    revoked = client.get("/api/v1/stocks", headers={"X-API-Key": keys["read"]})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


def test_every_write_and_trigger_route_needs_a_key(gw: tuple[TestClient, Built]) -> None:
    client, built = gw
    checked = 0
    for template, operations in built.app.openapi()["paths"].items():
        for method in set(operations) - {"get", "head"}:
            if template in READ_POSTS or template.startswith("/api/kr/chatbot"):
                continue
            path = re.sub(r"\{[^}]+\}", "1", template)
            r = client.request(method.upper(), path, json={})
            assert r.status_code == 401, f"{method} {template} answered {r.status_code}"
            checked += 1
    assert checked >= 8
    # The SSE trigger routes are GETs that start pipeline runs: keyed too.
    assert client.get("/api/system/update-data-stream").status_code == 401
    assert client.get("/api/system/update-single?type=jongga_v2").status_code == 401
    assert client.get("/api/kr/market-gate?refresh=true").status_code == 401


def test_reads_can_require_a_key_by_configuration(database: str, redis_url: str) -> None:
    built = build_app("gateway", database, redis_url, settings={"api_require_key_for_reads": True})
    keys = make_keys(built.state, prefix="reads")
    try:
        with TestClient(built.app) as client:
            assert client.get("/api/v1/stocks").status_code == 401
            assert client.get("/api/kr/jongga-v2/dates").status_code == 401
            ok = client.get("/api/v1/stocks", headers={"X-API-Key": keys["read"]})
            assert ok.status_code == 200
            # Probes stay open for the kubelet.
            assert client.get("/health").status_code == 200
    finally:
        built.state.close()


def test_rate_limit_per_ip_and_per_key_answer_429_with_retry_after(
    database: str, redis_url: str
) -> None:
    built = build_app(
        "gateway",
        database,
        redis_url,
        api={"rate_limit_per_ip": 5, "rate_limit_per_key": 3, "rate_limit_window_s": 30},
    )
    keys = make_keys(built.state, prefix="rl")
    try:
        with TestClient(built.app) as client:
            keyed = [
                client.get("/api/v1/policies", headers={"X-API-Key": keys["read"]}).status_code
                for _ in range(4)
            ]
            assert keyed == [200, 200, 200, 429]
            statuses = [client.get("/api/v1/policies").status_code for _ in range(3)]
            assert statuses[-1] == 429  # the IP's budget (5) ran out across both loops
            r = client.get("/api/v1/policies")
            assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 30
            assert "rate limit exceeded" in r.json()["error"]["message"]
            assert client.get("/health").status_code == 200  # probes are not limited
    finally:
        built.state.close()


def test_rate_limiter_lets_requests_through_when_redis_is_down(database: str) -> None:
    built = build_app("gateway", database, "redis://127.0.0.1:1/0", api={"rate_limit_per_ip": 1})
    try:
        with TestClient(built.app) as client:
            codes = [client.get("/api/v1/policies").status_code for _ in range(3)]
            assert codes == [200, 200, 200]
            # The cache is down too: reads fall back to the database, never to an error.
            assert client.get("/api/kr/jongga-v2/dates").status_code == 200
            assert client.get("/api/v1/stocks/005930").json()["name"] == "삼성전자"
            ready = client.get("/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["database"] == "ok"
    finally:
        built.state.close()


def test_security_headers_request_ids_and_cors(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    r = client.get("/api/v1/policies", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    generated = client.get("/api/v1/policies", headers={"X-Request-ID": "bad id\n"})
    assert len(generated.headers["x-request-id"]) == 32
    allowed = client.options(
        "/api/v1/stocks",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
    )
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    other = client.options(
        "/api/v1/stocks",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in other.headers


def test_errors_never_carry_traces_or_sql(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    for path in (
        "/api/v1/signals?date_from=2026-02-30",
        "/api/v1/signals?cursor=%27%3B%20DROP%20TABLE%20signals%3B--",
        "/api/v1/stocks/%27%20OR%201%3D1--",
        "/api/v1/signals?limit=100000000",
        "/api/kr/jongga-v2/history/%27%3Bselect%201",
    ):
        r = client.get(path)
        assert 400 <= r.status_code < 500, path
        text = r.text.lower()
        for leak in ("traceback", "select ", "sqlalchemy", "psycopg", 'file "'):
            assert leak not in text, (path, r.text)
    impossible = client.get("/api/v1/signals?date_from=2026-02-30").json()["error"]["message"]
    assert "2026-02-30" in impossible and "existing" in impossible


def test_apikey_cli_create_list_revoke(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from krstock.cli import app
    from krstock.config import get_settings
    from krstock.db.session import get_engine

    monkeypatch.setenv("KRSTOCK_DATABASE_URL", database)
    get_settings.cache_clear()
    get_engine.cache_clear()
    runner = CliRunner()
    name = f"cli-{uuid.uuid4().hex[:6]}"
    try:
        created = runner.invoke(app, ["apikey", "create", "--name", name, "--scopes", "read,write"])
        assert created.exit_code == 0, created.output
        key = created.stdout.strip().splitlines()[0]
        assert key.startswith("ks_")
        listed = runner.invoke(app, ["apikey", "list", "--json"])
        assert name in listed.stdout and key not in listed.stdout  # never shown again
        dup = runner.invoke(app, ["apikey", "create", "--name", name])
        assert dup.exit_code == 2 and "already exists" in dup.output
        bad = runner.invoke(app, ["apikey", "create", "--name", "x2", "--scopes", "root"])
        assert bad.exit_code == 2 and "unknown scope" in bad.output
        revoked = runner.invoke(app, ["apikey", "revoke", name, "--json"])
        assert revoked.exit_code == 0 and '"revoked_at": "' in revoked.stdout
    finally:
        get_engine().dispose()
        get_engine.cache_clear()
        get_settings.cache_clear()
    time.sleep(0)


def test_scan_progress_websocket_needs_a_key_when_reads_do(database: str, redis_url: str) -> None:
    from starlette.websockets import WebSocketDisconnect

    built = build_app("scanner", database, redis_url, settings={"api_require_key_for_reads": True})
    keys = make_keys(built.state, prefix="ws")
    try:
        with TestClient(built.app) as client:
            with client.websocket_connect("/ws/scans/nope") as ws:
                assert "required" in ws.receive_json()["error"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == 4401
            with client.websocket_connect(f"/ws/scans/nope?api_key={keys['read']}") as ws:
                assert ws.receive_json() == {"error": "no run with id 'nope'"}
    finally:
        built.state.close()


def test_access_log_has_request_id_route_status_and_no_secret(
    gw: tuple[TestClient, Built], caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import logging

    from krstock.logging_setup import JsonFormatter

    client, built = gw
    with caplog.at_level(logging.INFO, logger="krstock.api.access"):
        r = client.get(
            f"/api/v1/stocks/005930?api_key={built.keys['read']}",  # ignored here, yet masked
            headers={"X-Request-ID": "req-42", "X-API-Key": built.keys["read"]},
        )
    assert r.status_code == 200
    record = next(rec for rec in caplog.records if rec.name == "krstock.api.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42" and line["status"] == 200
    assert line["route"] == "/api/v1/stocks/{ticker}" and line["duration_ms"] >= 0
    assert built.keys["read"] not in json.dumps(line) and line["query"] == "api_key=***"
    assert line["api_key"] == built.keys["read"].split("_")[1]  # the public prefix only


def test_database_down_is_503_and_unhandled_errors_500_with_only_a_request_id(
    redis_url: str,
) -> None:
    from fastapi import FastAPI

    from krstock.api.infra.errors import install_error_handlers
    from krstock.api.infra.middleware import RequestContextMiddleware

    missing_db = "postgresql://postgres@127.0.0.1:5432/krstock_does_not_exist"
    built = build_app("gateway", missing_db, redis_url)
    try:
        with TestClient(built.app, raise_server_exceptions=False) as client:
            legacy = client.get("/api/kr/jongga-v2/history/20260205")
            assert legacy.status_code == 503
            assert legacy.json() == {"error": "the database is unavailable; retry later"}
            v1 = client.get("/api/v1/runs")
            assert v1.status_code == 503 and v1.headers["retry-after"] == "5"
            assert v1.json()["error"]["code"] == "database_unavailable"
            for text in (legacy.text, v1.text):
                assert "krstock_does_not_exist" not in text and "psycopg" not in text.lower()
    finally:
        built.state.close()

    # A bug anywhere: the real handlers answer 500 with the request id and nothing else.
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/v1/boom")
    @app.get("/api/kr/boom")
    def boom() -> None:
        raise RuntimeError("SELECT secret FROM api_keys -- Traceback")

    app.add_middleware(RequestContextMiddleware, service="test")
    with TestClient(app, raise_server_exceptions=False) as client:
        v1 = client.get("/api/v1/boom")
        assert v1.status_code == 500
        error = v1.json()["error"]
        assert error["code"] == "internal_error"
        assert error["request_id"] == v1.headers["x-request-id"]
        assert v1.headers["x-content-type-options"] == "nosniff"
        legacy = client.get("/api/kr/boom")
        assert legacy.json() == {"error": "internal error; quote the request id when reporting it"}
        for text in (v1.text, legacy.text):
            assert "secret" not in text and "Traceback" not in text
