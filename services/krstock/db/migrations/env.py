"""Alembic environment: the URL comes from the config (krstock.db.migrate) or the settings."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from krstock.config import Settings
from krstock.db.migrate import include_object
from krstock.db.models import Base
from krstock.db.session import normalize_url

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None:
    # Plain `alembic -c .../alembic.ini`: its logging section; krstock configures its own.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        # Plain `alembic`: the settings as the environment has them now (not a process cache).
        settings = Settings()
        url = settings.migration_database_url or settings.database_url
    if not url:
        raise RuntimeError(
            "no database URL: set KRSTOCK_MIGRATION_DATABASE_URL or KRSTOCK_DATABASE_URL"
        )
    return normalize_url(url)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            compare_server_default=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
