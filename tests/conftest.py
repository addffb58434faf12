"""Shared fixtures: real PostgreSQL and Redis on this machine, throwaway databases per test run."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
ADMIN_URL = os.environ.get(
    "KRSTOCK_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("KRSTOCK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Under pytest-xdist each worker (gw0, gw1, ...) gets its own Redis database below the given one,
# so caches and streams of tests running at the same time never meet.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST_WORKER.startswith("gw"):
    _base, _, _db = REDIS_URL.rpartition("/")
    REDIS_URL = f"{_base}/{int(_db or 0) - int(_XDIST_WORKER[2:])}"
IN_CI = os.environ.get("CI") == "true"


def _unavailable(what: str, exc: Exception) -> None:
    """In CI a missing service is a failure; on a laptop it is a skip with the reason."""
    message = f"{what} not reachable ({exc}); run scripts/services.sh"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def admin_url() -> str:
    """A superuser URL on the machine's PostgreSQL (creates and drops test databases)."""
    import psycopg

    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    return ADMIN_URL


def create_database(admin: str) -> str:
    import psycopg

    name = f"krstock_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(admin_url: str) -> Iterator[str]:
    """A brand-new empty database, dropped after the test (superuser URL)."""
    name = create_database(admin_url)
    try:
        yield _with_db(admin_url, name)
    finally:
        drop_database(admin_url, name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    return REDIS_URL


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (the real market files); skips when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (real data lives beside the project)")
    return SHARED_DATA


# --- Logging: no handler outlives the test that installed it.

# kopf's handler lives as long as the operator of a module-scoped fixture; the operator harness
# removes it when that operator stops.
_KEPT_HANDLERS = ("_KopfStreamHandler",)


@pytest.fixture(autouse=True)
def _root_handlers_restored() -> Iterator[None]:
    """An in-process CLI run (CliRunner) installs a root handler on its captured stderr, which
    is closed when the run ends; a later record from any thread (kopf's) would then print
    "--- Logging error --- ValueError: I/O operation on closed file". Remove what the test
    added. (Levels stay: kopf posts its INFO records as Kubernetes events.)"""
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in before and type(handler).__name__ not in _KEPT_HANDLERS:
            root.removeHandler(handler)


# --- Redis hygiene: a run touches only the Redis database it was given, and leaves none behind.

RedisAddress = tuple[str, int, int]  # (host, port, database)


def redis_address(url: str) -> RedisAddress:
    parts = urlsplit(url)
    return (parts.hostname or "localhost", parts.port or 6379, int(parts.path.strip("/") or 0))


GIVEN_REDIS = redis_address(REDIS_URL)
# Every Redis database this process connected to, with the first test that did.
REDIS_CONNECTIONS: dict[RedisAddress, str] = {}


def _recording(connect: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # Records at the call; an async connect's coroutine is handed back unchanged.
    def connect_recorded(connection: Any) -> Any:
        host, port = getattr(connection, "host", None), getattr(connection, "port", None)
        in_process = type(connection).__module__.startswith("fakeredis")  # no server reached
        if host is not None and port is not None and not in_process:
            test = os.environ.get("PYTEST_CURRENT_TEST", "outside a test")
            REDIS_CONNECTIONS.setdefault((str(host), int(port), int(connection.db)), test)
        return connect(connection)

    return connect_recorded


def record_redis_connections() -> None:
    """Note the database of every redis-py connection (kombu's and the API's included)."""
    import redis.asyncio.connection
    import redis.connection

    for cls in (redis.connection.AbstractConnection, redis.asyncio.connection.AbstractConnection):
        cls.connect = _recording(cls.connect)  # type: ignore[method-assign]


def foreign_redis_databases(used: dict[RedisAddress, str], given: RedisAddress) -> dict[int, str]:
    """Databases of the given Redis server that were used although not given (private
    servers on other ports are the tests' own)."""
    _, port, db = given  # the port alone: "localhost" and "127.0.0.1" are one server
    return {d: test for (_, p, d), test in sorted(used.items()) if p == port and d != db}


def _keys_without_ttl(client: Any) -> set[bytes]:
    keys = list(client.scan_iter(count=1000))
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.ttl(key)
        ttls = pipe.execute()
    return {key for key, ttl in zip(keys, ttls, strict=True) if ttl == -1}


def _given_redis_client() -> Any | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        return None
    return client


@pytest.fixture(scope="session", autouse=True)
def _redis_hygiene() -> Iterator[None]:
    """Fails the run when a test used a Redis database it was not given (a default URL's
    db 0, a hard-coded number), and deletes the keys without TTL that this run left in its
    own database (Celery's queue bindings, event streams). Under xdist each worker checks
    only itself, so workers never see each other's databases."""
    client = _given_redis_client()
    before = _keys_without_ttl(client) if client is not None else set()
    record_redis_connections()
    yield
    if client is not None:
        left = _keys_without_ttl(client) - before
        if left:
            client.delete(*left)
        client.close()
    foreign = foreign_redis_databases(REDIS_CONNECTIONS, GIVEN_REDIS)
    if foreign:
        pytest.fail(f"tests used Redis databases not given ({REDIS_URL}): {foreign}")


class RedisGuard:
    """The hygiene check, usable mid-test (the guard's own test)."""

    def foreign(self) -> dict[int, str]:
        return foreign_redis_databases(REDIS_CONNECTIONS, GIVEN_REDIS)

    def forget(self, db: int) -> None:
        """Drop the record of ``db`` (a test that used it on purpose)."""
        for address in [a for a in REDIS_CONNECTIONS if a[2] == db]:
            del REDIS_CONNECTIONS[address]


@pytest.fixture
def redis_guard() -> RedisGuard:
    return RedisGuard()
