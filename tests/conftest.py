"""Shared fixtures: real PostgreSQL and Redis on this machine, throwaway databases per test run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (the real market files); skips when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (real data lives beside the project)")
    return SHARED_DATA
