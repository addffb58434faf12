"""Migrated databases for integration tests.

The schema is migrated once per test session into a template database; each test gets a copy
(``CREATE DATABASE ... TEMPLATE``) that is dropped afterwards. Copies are made one ahead and
dropped in a background thread, so a test does not wait for either (a DROP DATABASE can wait
seconds for a checkpoint on a busy server). Drops still queued when the session ends are handed
to a detached process, so pytest exits without waiting for them.

Fixtures:
- ``db_url``: a fresh database migrated to head, superuser URL (``postgresql://...``).
- ``db_engine``: a SQLAlchemy engine (psycopg 3) on ``db_url``.
- ``app_db_url``: the same database through the least-privilege application role.
- ``fresh_database``: ``with fresh_database() as url:`` for module-scoped databases.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
from sqlalchemy import Engine


def _root_conftest() -> ModuleType:
    # tests/ is not a package; load the root conftest's helpers by path (no duplicate code).
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("krstock_tests_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_root = _root_conftest()
_with_db = _root._with_db
drop_database = _root.drop_database
APP_ROLE = "krstock_app"


CLONE_ATTEMPTS = 5


def _close_template(admin: str, template: str) -> None:
    """No new sessions on the template (TimescaleDB's scheduler keeps one on every database,
    which makes CREATE DATABASE ... TEMPLATE fail with "source database ... is being accessed
    by other users"), and the open ones ended."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{template}" WITH ALLOW_CONNECTIONS false')
        _end_sessions(conn, template)


def _end_sessions(conn: psycopg.Connection, database: str) -> None:
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    )


def _clone(admin: str, template: str, attempts: int = CLONE_ATTEMPTS) -> str:
    """A copy of ``template``. A session that still holds the template (one opened before
    ALLOW_CONNECTIONS false, a background worker) is ended and the copy tried again."""
    name = f"krstock_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        for attempt in range(1, attempts + 1):
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                return name
            except psycopg.errors.ObjectInUse:
                if attempt == attempts:
                    raise
                _end_sessions(conn, template)
                time.sleep(0.1 * attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


_DROP_SCRIPT = """
import sys, psycopg
admin, names = sys.argv[1], sys.argv[2:]
for name in names:
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:
        print(f"could not drop {name}: {exc}", file=sys.stderr)
"""


def _drop_later(admin: str, names: list[str]) -> None:
    """Drop ``names`` in a detached process (outlives pytest; errors go to stderr)."""
    if names:
        subprocess.Popen(
            [sys.executable, "-c", _DROP_SCRIPT, admin, *names],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )


class _ClonePool:
    """Hands out fresh copies of the template; prepares the next one and drops used ones."""

    def __init__(self, admin: str, template: str) -> None:
        self.admin = admin
        self.template = template
        # Separate workers: a copy is never queued behind a slow drop.
        self.cloner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="krstock-db-clone")
        self.dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="krstock-db-drop")
        self.pending: list[tuple[str, Future[None]]] = []
        self.next: Future[str] = self.cloner.submit(_clone, admin, template)

    def take(self) -> str:
        job, self.next = self.next, self.cloner.submit(_clone, self.admin, self.template)
        try:
            return job.result()
        except psycopg.Error:
            # One failed copy must not fail every later test: try once more, here.
            return _clone(self.admin, self.template)

    def release(self, name: str) -> None:
        self.pending.append((name, self.dropper.submit(drop_database, self.admin, name)))

    def close(self) -> None:
        try:
            leftovers = [self.next.result()]
        except psycopg.Error:
            leftovers = []
        for name, job in self.pending:
            if job.cancel():
                leftovers.append(name)
        self.cloner.shutdown(wait=True)
        self.dropper.shutdown(wait=True)  # at most one drop is running
        _drop_later(self.admin, leftovers)


@pytest.fixture(scope="session")
def migrated_template(admin_url: str) -> Iterator[str]:
    """A database migrated to head with the app role's grants, used only as a template."""
    from krstock.db.migrate import upgrade
    from krstock.db.roles import ensure_app_role

    name = f"krstock_template_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _with_db(admin_url, name)
        upgrade(url, "head")
        ensure_app_role(url, APP_ROLE)
        # Flush the template's dirty pages once: copies (WAL_LOG strategy) and drops of copies
        # are then ~0.05 s each instead of ~0.3-2 s.
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        _close_template(admin_url, name)
        yield name
    finally:
        _drop_later(admin_url, [name])


@pytest.fixture(scope="session")
def _clone_pool(admin_url: str, migrated_template: str) -> Iterator[_ClonePool]:
    pool = _ClonePool(admin_url, migrated_template)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def fresh_database(
    admin_url: str, _clone_pool: _ClonePool
) -> Callable[[], AbstractContextManager[str]]:
    """For module-scoped fixtures: ``with fresh_database() as url:`` gives a fresh database
    migrated to head (superuser URL), dropped afterwards."""

    @contextmanager
    def clone() -> Iterator[str]:
        name = _clone_pool.take()
        try:
            yield _with_db(admin_url, name)
        finally:
            _clone_pool.release(name)

    return clone


@pytest.fixture
def db_url(admin_url: str, _clone_pool: _ClonePool) -> Iterator[str]:
    """A fresh database migrated to head (superuser URL), dropped after the test."""
    name = _clone_pool.take()
    try:
        yield _with_db(admin_url, name)
    finally:
        _clone_pool.release(name)


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """A SQLAlchemy engine on ``db_url``; disposed (connections closed) after the test."""
    from krstock.db.session import make_engine

    engine = make_engine(db_url, pool_size=2, max_overflow=2)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def app_db_url(db_url: str) -> str:
    """``db_url`` as the application role (row access only, no DDL)."""
    from sqlalchemy.engine import make_url

    return (
        make_url(db_url).set(username=APP_ROLE, password=None).render_as_string(hide_password=False)
    )
