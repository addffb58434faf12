"""Engines and sessions: one pooled engine per URL, psycopg 3, statement timeout from settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from krstock.config import Settings, get_settings

_DRIVER = "postgresql+psycopg"


class DatabaseNotConfiguredError(RuntimeError):
    """No database URL was given and none is set in the environment."""


def normalize_url(url: str) -> str:
    """``postgres://`` / ``postgresql://`` (any driver) → ``postgresql+psycopg://`` (psycopg 3)."""
    if not url:
        raise DatabaseNotConfiguredError("empty database URL")
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"krstock needs PostgreSQL, got a {parsed.get_backend_name()!r} URL")
    return parsed.set(drivername=_DRIVER).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL in plain libpq form (for psycopg.connect, pg_dump, pg_restore)."""
    parsed = make_url(normalize_url(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _connect_timeout_s() -> int:
    """libpq's own PGCONNECT_TIMEOUT when set (the ``krstock`` command sets 5 s, so that a
    database that never answers fails fast), else 10 s."""
    value = os.environ.get("PGCONNECT_TIMEOUT", "")
    return int(value) if value.isdigit() else 10


def make_engine(url: str, settings: Settings | None = None, **overrides: object) -> Engine:
    """A pooled engine for ``url``, sized and time-limited by ``settings``."""
    settings = settings or get_settings()
    options: dict[str, object] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_s,
        "pool_pre_ping": True,
        "connect_args": {
            "connect_timeout": _connect_timeout_s(),
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
            "application_name": "krstock",
        },
    }
    options.update(overrides)
    return create_engine(normalize_url(url), **options)


def configured_url(settings: Settings | None = None) -> str:
    """``KRSTOCK_DATABASE_URL`` or a clear error."""
    settings = settings or get_settings()
    if not settings.database_url:
        raise DatabaseNotConfiguredError(
            "no database configured: set KRSTOCK_DATABASE_URL (e.g. "
            "postgresql://krstock_app@127.0.0.1:5432/krstock)"
        )
    return settings.database_url


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process-wide engine on ``settings.database_url`` (``get_engine.cache_clear()``)."""
    return make_engine(configured_url())


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    factory = sessionmaker(bind=engine or get_engine(), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
