"""Migrated databases for integration tests.

The schema is migrated once per test session into a template database; each test gets a copy
(``CREATE DATABASE ... TEMPLATE``, ~100 ms) that is dropped afterwards.

Fixtures:
- ``db_url``: a fresh database migrated to head, superuser URL (``postgresql://...``).
- ``db_engine``: a SQLAlchemy engine (psycopg 3) on ``db_url``.
- ``app_db_url``: the same database through the least-privilege application role.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
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


def _clone(admin: str, template: str) -> str:
    name = f"krstock_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


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
        yield name
    finally:
        drop_database(admin_url, name)


@pytest.fixture
def db_url(admin_url: str, migrated_template: str) -> Iterator[str]:
    """A fresh database migrated to head (superuser URL), dropped after the test."""
    name = _clone(admin_url, migrated_template)
    try:
        yield _with_db(admin_url, name)
    finally:
        drop_database(admin_url, name)


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
