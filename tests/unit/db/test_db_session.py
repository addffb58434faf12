"""URL normalisation, engine options and the missing-configuration error."""

from __future__ import annotations

import pytest

from krstock.config import Settings
from krstock.db.session import (
    DatabaseNotConfiguredError,
    configured_url,
    libpq_url,
    make_engine,
    normalize_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg://u@h/db"),
        (
            "postgresql+psycopg://u@h/db?sslmode=require",
            "postgresql+psycopg://u@h/db?sslmode=require",
        ),
        ("postgresql://u:p%40ss@h/db", "postgresql+psycopg://u:p%40ss@h/db"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_libpq_url_drops_the_driver() -> None:
    assert libpq_url("postgresql+psycopg://u@h:1/db") == "postgresql://u@h:1/db"


def test_non_postgres_urls_and_empty_urls_are_rejected() -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        normalize_url("sqlite:///x.db")
    with pytest.raises(DatabaseNotConfiguredError):
        normalize_url("")


def test_engine_is_sized_and_time_limited_by_settings() -> None:
    settings = Settings(
        db_pool_size=7, db_max_overflow=3, db_pool_timeout_s=4.5, db_statement_timeout_ms=1234
    )
    engine = make_engine("postgresql://u@127.0.0.1:1/db", settings)
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.pool.size() == 7  # type: ignore[attr-defined]
        assert engine.pool._max_overflow == 3  # type: ignore[attr-defined]
        assert engine.pool._timeout == 4.5  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_configured_url_explains_what_to_set() -> None:
    with pytest.raises(DatabaseNotConfiguredError, match="KRSTOCK_DATABASE_URL"):
        configured_url(Settings(database_url=None))
    assert configured_url(Settings(database_url="postgresql://x/y")) == "postgresql://x/y"
