"""Issue 19, from an attacker's side: each finding reproduced against the real gateway app
(real PostgreSQL and Redis), asserting what the attack gets now."""

from __future__ import annotations

import base64
import hashlib
import importlib
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import httpx
import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from helpers.api_apps import Built, build_app, make_keys
from helpers.api_seed import seed

from krstock.api import dispatch
from krstock.api.infra.errors import ApiError
from krstock.db.session import make_engine

pytestmark = pytest.mark.integration

MEMORY = "/api/kr/chatbot/memory"


@pytest.fixture(scope="module")
def database(fresh_database: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    with fresh_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=1)
        seed(engine, tickers=20, days=80)
        engine.dispose()
        yield url


def _gateway(database: str, redis_url: str, **api: object) -> Built:
    tag = uuid.uuid4().hex[:8]
    options = {"chat_prefix": f"krstock:test:{tag}:chat", "trust_forwarded_for": True, **api}
    built = build_app("gateway", database, redis_url, api=options)
    built.keys = make_keys(built.state)
    return built


@pytest.fixture(scope="module")
def gw(database: str, redis_url: str) -> Iterator[tuple[TestClient, Built]]:
    built = _gateway(database, redis_url)
    with TestClient(built.app) as client:
        yield client, built
    built.state.close()


def _chat_bytes(client: redis.Redis, prefix: str) -> int:
    """What the chat keys under ``prefix`` hold in Redis (payload bytes)."""
    total = 0
    for key in client.scan_iter(f"{prefix}:*"):
        kind = client.type(key)
        if kind == b"hash":
            total += sum(len(k) + len(v) for k, v in client.hgetall(key).items())
        elif kind == b"list":
            total += sum(len(v) for v in client.lrange(key, 0, -1))
    return total


def _from(ip: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip, **headers}


# 1. High: anyone without a key could fill Redis through the chat memory.


def test_a_large_memory_value_is_refused_and_nothing_is_stored(
    gw: tuple[TestClient, Built],
) -> None:
    client, _ = gw
    attacker = _from("198.51.100.1", **{"X-User-Id": "attacker"})
    r = client.post(MEMORY, json={"blob": "x" * 20_000}, headers=attacker)
    assert r.status_code == 413 and "at most 4096 bytes" in r.json()["error"]
    assert client.get(MEMORY, headers=attacker).json() == {"memory": {}}


def test_repeated_memory_writes_stay_within_the_per_user_cap(
    gw: tuple[TestClient, Built],
) -> None:
    client, built = gw
    attacker = _from("198.51.100.2")
    statuses = set()
    for round_ in range(8):  # 8 x 15 items of ~3.9 KB: ~2 times what one user may keep
        items = {f"k{round_}-{i}": "y" * 3_800 for i in range(15)}
        statuses.add(client.post(MEMORY, json=items, headers=attacker).status_code)
    assert 413 in statuses
    assert built.state.redis is not None
    stored = _chat_bytes(built.state.redis, f"{built.state.api.chat_prefix}:ip:198.51.100.2")
    assert 0 < stored <= built.state.api.chat_user_max_bytes


def test_anonymous_chat_storage_is_bounded_by_its_pool_with_oldest_first_eviction(
    database: str, redis_url: str
) -> None:
    built = _gateway(
        database, redis_url, chat_anonymous_max_bytes=65_536, chat_user_max_bytes=16_384
    )
    try:
        with TestClient(built.app) as client:
            for n in range(40):  # 40 addresses x ~12 KB: ~7 times the pool
                items = {f"k{i}": "z" * 3_000 for i in range(4)}
                r = client.post(MEMORY, json=items, headers=_from(f"203.0.113.{n}"))
                assert r.status_code == 200
            assert built.state.redis is not None
            stored = _chat_bytes(built.state.redis, built.state.api.chat_prefix)
            assert stored <= 65_536
            newest = client.get(MEMORY, headers=_from("203.0.113.39")).json()["memory"]
            oldest = client.get(MEMORY, headers=_from("203.0.113.0")).json()["memory"]
            assert len(newest) == 4 and oldest == {}
    finally:
        built.state.close()


def test_anonymous_traffic_cannot_evict_key_holders(database: str, redis_url: str) -> None:
    built = _gateway(database, redis_url, chat_anonymous_max_bytes=65_536)
    try:
        with TestClient(built.app) as client:
            owner = {"X-API-Key": built.keys["read"]}
            assert client.post(MEMORY, json={"style": "swing"}, headers=owner).status_code == 200
            for n in range(40):
                items = {f"k{i}": "z" * 3_000 for i in range(4)}
                client.post(MEMORY, json=items, headers=_from(f"192.0.2.{n}"))
            memory = client.get(MEMORY, headers=owner).json()["memory"]
            assert memory["style"]["value"] == "swing"
    finally:
        built.state.close()


def test_chat_history_is_trimmed_to_the_per_user_cap(database: str, redis_url: str) -> None:
    built = _gateway(database, redis_url, chat_user_max_bytes=8_192)
    try:
        with TestClient(built.app) as client:
            who = _from("198.51.100.3")
            for _ in range(10):
                r = client.post("/api/kr/chatbot", json={"message": "가" * 1_500}, headers=who)
                assert r.status_code == 200
            assert built.state.redis is not None
            prefix = f"{built.state.api.chat_prefix}:ip:198.51.100.3"
            assert 0 < _chat_bytes(built.state.redis, prefix) <= 8_192
    finally:
        built.state.close()


def test_anonymous_chat_memory_expires_within_the_anonymous_ttl(
    gw: tuple[TestClient, Built],
) -> None:
    client, built = gw
    assert client.post(MEMORY, json={"a": 1}, headers=_from("198.51.100.4")).status_code == 200
    assert built.state.redis is not None
    key = f"{built.state.api.chat_prefix}:ip:198.51.100.4:memory"
    assert 0 < built.state.redis.ttl(key) <= built.state.api.chat_anonymous_ttl_s


# 2. Medium: anyone could read or wipe another user's chat by naming it in X-User-Id.


def test_x_user_id_does_not_reach_another_users_memory(gw: tuple[TestClient, Built]) -> None:
    client, built = gw
    victim = {"X-API-Key": built.keys["write"], "X-User-Id": "victim"}
    assert client.post(MEMORY, json={"secret": "s3"}, headers=victim).status_code == 200
    for attacker in (
        _from("198.51.100.5", **{"X-User-Id": "victim"}),  # no key, the victim's name
        {"X-API-Key": built.keys["read"], "X-User-Id": "victim"},  # another key, same name
    ):
        assert client.get(MEMORY, headers=attacker).json() == {"memory": {}}
        assert client.delete(MEMORY, headers=attacker).json() == {"status": "cleared"}
        assert client.delete("/api/kr/chatbot/history", headers=attacker).status_code == 200
    memory = client.get(MEMORY, headers=victim).json()["memory"]
    assert memory["secret"]["value"] == "s3"


def test_anonymous_users_at_different_addresses_are_apart(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    first = _from("198.51.100.6")
    assert client.post(MEMORY, json={"mine": 1}, headers=first).status_code == 200
    assert client.get(MEMORY, headers=_from("198.51.100.7")).json() == {"memory": {}}
    assert "mine" in client.get(MEMORY, headers=first).json()["memory"]


def test_anonymous_chat_can_be_switched_off(database: str, redis_url: str) -> None:
    built = _gateway(database, redis_url, chat_allow_anonymous=False)
    try:
        with TestClient(built.app) as client:
            r = client.get(MEMORY)
            assert r.status_code == 401 and "API key" in r.json()["error"]
            keyed = client.get(MEMORY, headers={"X-API-Key": built.keys["read"]})
            assert keyed.status_code == 200
    finally:
        built.state.close()


# 3. Medium: wrong secrets with a key's public prefix used to lock that key out.


def _wrong_secret(key: str) -> str:
    head, prefix, secret = key.split("_", 2)
    return f"{head}_{prefix}_{'A' * len(secret)}"


def test_wrong_secrets_with_a_real_prefix_do_not_lock_the_key_out(
    database: str, redis_url: str
) -> None:
    built = _gateway(
        database,
        redis_url,
        rate_limit_per_key=5,
        rate_limit_per_ip=1_000,
        auth_failures_per_ip=4,
        rate_limit_window_s=30,
    )
    try:
        with TestClient(built.app) as client:
            forged = {"X-API-Key": _wrong_secret(built.keys["read"])}
            for n in range(6):  # 6 addresses x 10 forged requests: twice the key's budget
                codes = [
                    client.get("/api/v1/policies", headers=_from(f"10.0.0.{n}", **forged))
                    for _ in range(10)
                ]
                assert [r.status_code for r in codes] == [401] * 4 + [429] * 6
                assert "failed API keys" in codes[-1].json()["error"]["message"]
            owner = _from("10.0.1.1", **{"X-API-Key": built.keys["read"]})
            codes_owner = [
                client.get("/api/v1/policies", headers=owner).status_code for _ in range(6)
            ]
            assert codes_owner == [200] * 5 + [429]  # the key's own budget, and only its own
    finally:
        built.state.close()


def test_failed_keys_back_off_only_the_address_that_sent_them(
    database: str, redis_url: str
) -> None:
    built = _gateway(database, redis_url, auth_failures_per_ip=3)
    try:
        with TestClient(built.app) as client:
            bad = _from("10.0.2.1", **{"X-API-Key": "ks_nothing_" + "B" * 40})
            codes = [client.get("/api/v1/policies", headers=bad).status_code for _ in range(5)]
            assert codes == [401, 401, 401, 429, 429]
            elsewhere = _from("10.0.2.2", **{"X-API-Key": built.keys["read"]})
            assert client.get("/api/v1/policies", headers=elsewhere).status_code == 200
    finally:
        built.state.close()


# 6. Low: no request body limit (a 5 MB JSON body was accepted on every POST route).


def test_a_large_body_is_413_before_it_is_read(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    big = b'{"message": "' + b"x" * 5_000_000 + b'"}'
    for path in ("/api/kr/chatbot", MEMORY, "/api/v1/runs", "/api/kr/realtime-prices"):
        r = client.post(path, content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413, path
        assert "too large" in str(r.json()["error"])
        assert r.headers["x-request-id"] and r.headers["x-content-type-options"] == "nosniff"
    v1 = client.post("/api/v1/runs", content=big, headers={"Content-Type": "application/json"})
    assert v1.json()["error"]["code"] == "payload_too_large"


def test_a_chunked_body_is_counted_while_it_streams(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw

    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(100):  # 100 x 64 KiB, without a Content-Length
            yield b"x" * 65_536
        yield b'"}'

    r = client.post(
        "/api/kr/chatbot", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413


def test_body_limit_can_be_raised_for_one_path(database: str, redis_url: str) -> None:
    built = _gateway(
        database,
        redis_url,
        max_body_bytes=4_096,
        max_body_bytes_by_path={"/api/kr/realtime-prices": 100_000},
    )
    try:
        with TestClient(built.app) as client:
            tickers = {"tickers": ["005930"] * 400}  # ~4.4 KB
            assert client.post("/api/kr/realtime-prices", json=tickers).status_code == 200
            assert client.post(MEMORY, json={"k": "v" * 5_000}).status_code == 413
    finally:
        built.state.close()


# 5. Low: a NUL byte in a text parameter was a 500 (psycopg.DataError).


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/stocks?q=%00",
        "/api/v1/stocks?q=a%01b",
        "/api/v1/stocks/%00",
        "/api/kr/jongga-v2/history/2026%0001",
        "/api/v1/runs?kind=vcp%00",
    ],
)
def test_control_characters_in_the_target_are_400(
    gw: tuple[TestClient, Built], target: str
) -> None:
    client, _ = gw
    r = client.get(target)
    assert r.status_code == 400, r.text
    assert "control character" in str(r.json()["error"])


def test_control_characters_in_a_json_body_are_400_but_newlines_and_tabs_pass(
    gw: tuple[TestClient, Built],
) -> None:
    client, _ = gw
    who = _from("198.51.100.8")
    r = client.post("/api/kr/chatbot", json={"message": "삼성\u0000전자"}, headers=who)
    assert r.status_code == 400 and "control character" in r.json()["error"]
    bad_key = client.post(MEMORY, json={"a\u0001": 1}, headers=who)
    assert bad_key.status_code == 400
    ok = client.post("/api/kr/chatbot", json={"message": "시장\t상태\r\n알려줘"}, headers=who)
    assert ok.status_code == 200


# 4. Low: the "one active run per kind" check read, then inserted, with no lock.


def test_concurrent_starts_of_one_kind_make_exactly_one_run(database: str, redis_url: str) -> None:
    # Celery mode: the run stays PENDING (no worker here), so every loser must see it.
    built = _gateway(database, redis_url, dispatch_mode="celery")
    barrier = threading.Barrier(20)
    headers = {"X-API-Key": built.keys["write"]}
    started: list[str] = []
    try:
        with TestClient(built.app) as client:

            def start(_: int) -> httpx.Response:
                barrier.wait()
                return client.post("/api/v1/runs", json={"kind": "market_gate"}, headers=headers)

            with ThreadPoolExecutor(20) as pool:
                responses = list(pool.map(start, range(20)))
            started = [r.json()["run_id"] for r in responses if r.status_code == 202]
            assert sorted(r.status_code for r in responses) == [202] + [409] * 19
            losers = [r.json()["error"] for r in responses if r.status_code == 409]
            assert {e["code"] for e in losers} == {"already_running"}
            assert {e["details"]["run_id"] for e in losers} == set(started)
            with psycopg.connect(database) as conn:
                active = conn.execute(
                    "SELECT count(*) FROM scan_runs WHERE status IN ('PENDING', 'RUNNING')"
                    " AND kind = (SELECT kind FROM scan_runs WHERE id = %s)",
                    (started[0],),
                ).fetchone()
            assert active == (1,)
    finally:
        _drop_queued(redis.Redis.from_url(redis_url), started)
        built.state.close()


def _drop_queued(client: redis.Redis, run_ids: list[str]) -> None:
    """Removes the test's enqueued tasks from the broker (no worker here will take them)."""
    for queue in client.scan_iter(_type="list"):
        for message in client.lrange(queue, 0, -1):
            if any(run_id.encode() in message for run_id in run_ids):
                client.lrem(queue, 1, message)  # type: ignore[arg-type]  # bytes work too


def test_concurrent_start_run_calls_make_exactly_one_run(database: str, redis_url: str) -> None:
    # The same race without HTTP in between: 20 threads reach the check at the same moment.
    importlib.import_module("celery")  # once, here: concurrent first imports can half-fail
    engine = make_engine(database, pool_size=20, max_overflow=0)
    barrier = threading.Barrier(20)
    started: list[str] = []

    def start(_: int) -> str:
        barrier.wait()
        try:
            run = dispatch.start_run(engine, "closing_bet", "celery", broker_url=redis_url)
        except ApiError as exc:
            return str(exc.status)
        started.append(run.id)
        return "202"

    try:
        with ThreadPoolExecutor(20) as pool:
            outcomes = sorted(pool.map(start, range(20)))
        assert outcomes == ["202"] + ["409"] * 19
    finally:
        _drop_queued(redis.Redis.from_url(redis_url), started)
        engine.dispose()


def test_a_stale_running_run_does_not_block_a_new_one(database: str, redis_url: str) -> None:
    engine = make_engine(database, pool_size=1, max_overflow=0)
    started: list[str] = []
    try:
        with psycopg.connect(database) as conn:
            conn.execute(
                "INSERT INTO scan_runs (id, kind, status, created_at)"
                " VALUES (%s, 'track', 'RUNNING', now() - interval '3 hours')",
                (f"stale-{uuid.uuid4().hex[:8]}",),
            )
        run = dispatch.start_run(engine, "track", "celery", broker_url=redis_url)
        started.append(run.id)
        with pytest.raises(ApiError) as busy:
            dispatch.start_run(engine, "track", "celery", broker_url=redis_url)
        assert busy.value.status == 409 and busy.value.extra == {"run_id": run.id}
    finally:
        _drop_queued(redis.Redis.from_url(redis_url), started)
        engine.dispose()


# 7. Info: ?api_key= was accepted on every route, POSTs included.


def test_a_key_in_the_url_counts_only_on_the_streaming_routes(
    gw: tuple[TestClient, Built],
) -> None:
    client, built = gw
    write = built.keys["write"]
    r = client.post(f"/api/v1/runs?api_key={write}", json={"kind": "vcp"})
    assert r.status_code == 401
    assert "accepted only on the streaming routes" in r.json()["error"]["message"]
    stream = client.get(f"/api/system/update-single?type=nope&api_key={write}")
    assert stream.status_code == 400  # past the key check: the type is what is wrong


def test_docs_pages_send_a_strict_csp_pinning_their_inline_script(
    gw: tuple[TestClient, Built],
) -> None:
    client, _ = gw
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200
        policy = r.headers["content-security-policy"]
        script_src = next(p for p in policy.split("; ") if p.startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "https://cdn.jsdelivr.net" in script_src
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    inline = re.search(r"<script>(.*?)</script>", client.get("/docs").text, re.DOTALL)
    assert inline is not None
    digest = base64.b64encode(hashlib.sha256(inline.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in client.get("/docs").headers["content-security-policy"]
    assert "strict-transport-security" not in client.get("/health").headers  # off by default


def test_docs_can_be_switched_off_and_hsts_on(database: str, redis_url: str) -> None:
    built = _gateway(database, redis_url, docs_enabled=False, hsts_max_age_s=31_536_000)
    try:
        with TestClient(built.app) as client:
            assert client.get("/docs").status_code == 404
            assert client.get("/redoc").status_code == 404
            r = client.get("/api/v1/policies")
            assert r.headers["strict-transport-security"] == "max-age=31536000"
    finally:
        built.state.close()


def test_a_client_sent_forwarded_for_does_not_pick_someone_elses_anonymous_chat(
    gw: tuple[TestClient, Built],
) -> None:
    client, _ = gw
    victim = _from("198.51.100.20")
    assert client.post(MEMORY, json={"mine": 1}, headers=victim).status_code == 200
    # Behind a trusted proxy that appends, the client's own entry comes first.
    spoofed = _from("198.51.100.20, 198.51.100.21")
    assert client.get(MEMORY, headers=spoofed).json() == {"memory": {}}
