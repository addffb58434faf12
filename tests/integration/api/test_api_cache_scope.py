"""The gateway's Redis cache keys are tied to its database (issue 12, item 6): two gateways on
one Redis, with the same configured cache prefix but different databases, never serve each
other's cached bodies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers.api_apps import build_app
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from krstock.cache import database_scope
from krstock.db.models import Signal, Stock
from krstock.db.session import make_engine

pytestmark = pytest.mark.integration


@pytest.fixture
def second_db_url(admin_url: str, _clone_pool: Any) -> Iterator[str]:
    name = _clone_pool.take()
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _clone_pool.release(name)


def _seed_one_signal(url: str) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Stock), [{"ticker": "086520", "name": "에코프로"}])
            conn.execute(
                insert(Signal),
                [
                    {"strategy": "vcp-legacy", "ticker": "086520", "signal_date": date(2026, 2, 24),
                     "status": "OPEN", "score": 88.5, "entry_price": 172_200,
                     "payload": {}, "score_breakdown": {}}
                ],
            )  # fmt: skip
    finally:
        engine.dispose()


def test_two_databases_on_one_redis_do_not_share_cached_bodies(
    db_url: str, second_db_url: str, redis_url: str
) -> None:
    _seed_one_signal(db_url)
    shared = {"cache_prefix": f"krstock:test:{uuid.uuid4().hex[:8]}:cache"}
    first = build_app("gateway", db_url, redis_url, api=shared)
    second = build_app("gateway", second_db_url, redis_url, api=shared)
    try:
        with TestClient(first.app) as a, TestClient(second.app) as b:
            assert a.get("/api/kr/signals").json()["count"] == 1  # now cached under a's key
            # Before: the same key, so b answered a's cached list.
            assert b.get("/api/kr/signals").json()["count"] == 0
        assert first.state.cache.prefix != second.state.cache.prefix
        assert first.state.cache.prefix.startswith(shared["cache_prefix"] + ":db-")
    finally:
        first.state.close()
        second.state.close()


def test_the_scope_is_host_port_and_name_without_credentials() -> None:
    base = "postgresql://app:secret@db.example:5432/krstock"
    assert database_scope(base) == database_scope("postgresql://other:pw@db.example/krstock")
    assert database_scope(base) != database_scope("postgresql://app@db.example:5432/krstock2")
    assert database_scope(base) != database_scope("postgresql://app@db2.example:5432/krstock")
    assert "secret" not in database_scope(base)
