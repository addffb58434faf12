"""Migrations: upgrade/downgrade round trip, and models and migrations agree."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text

from krstock.db import migrate
from krstock.db.models import Base

pytestmark = pytest.mark.integration

VIEWS = {"daily_prices_weekly", "investor_flows_weekly", "investor_flows_rolling"}


def _tables(url: str) -> set[str]:
    from sqlalchemy import create_engine, pool

    from krstock.db.session import normalize_url

    engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names()) | set(inspect(engine).get_view_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_on_a_fresh_database(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, "head")
    assert migrate.current_revision(url) == migrate.head_revision()
    expected = set(Base.metadata.tables) | VIEWS | {"alembic_version"}
    assert _tables(url) == expected

    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    assert _tables(url) == {"alembic_version"}

    migrate.upgrade(url, "head")
    assert _tables(url) == expected
    assert migrate.schema_diff(url) == []


def test_models_and_migrations_agree(db_url: str) -> None:
    assert migrate.current_revision(db_url) == migrate.head_revision() == "0002"
    assert migrate.schema_diff(db_url) == []


def test_schema_diff_reports_a_drifted_column(db_url: str, db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(text("ALTER TABLE fx_rates ADD COLUMN stray integer"))
    diff = migrate.schema_diff(db_url)
    assert any(item[0] == "remove_column" and item[3].name == "stray" for item in diff)


def test_timescale_detection_matches_the_server(db_engine: Engine) -> None:
    from krstock.db.features import is_hypertable, timescaledb_available, timescaledb_installed

    with db_engine.connect() as conn:
        available = timescaledb_available(conn)
        installed = timescaledb_installed(conn)
        hyper = is_hypertable(conn, "daily_prices")
    if not available:
        assert not installed
        assert not hyper
    else:
        assert hyper == installed
