"""Alembic driven from Python: upgrade, downgrade, current/head revisions, models-vs-schema diff."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from krstock.db.models import Base
from krstock.db.session import normalize_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for the packaged migrations, pointed at ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates %; escape it (URL-encoded passwords contain %).
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(url: str) -> str | None:
    engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Compare only the application's tables (not views, TimescaleDB internals, alembic_version)."""
    return not (type_ == "table" and reflected and compare_to is None and name == "alembic_version")


def schema_diff(url: str) -> list[Any]:
    """Differences between the models and the migrated database; empty when they agree."""
    engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
    # Autogenerate logs every comparison plugin at INFO; a diff is the result, not the log.
    quiet = logging.getLogger("alembic")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": include_object,
                },
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        quiet.setLevel(level)
        engine.dispose()
