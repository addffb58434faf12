"""TimescaleDB feature detection: used when the extension exists, skipped cleanly otherwise."""

from __future__ import annotations

from sqlalchemy import Connection, text


def timescaledb_available(conn: Connection) -> bool:
    """True when the server can load TimescaleDB (``pg_available_extensions``)."""
    found = conn.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).scalar()
    return found is not None


def timescaledb_usable(conn: Connection) -> bool:
    """Available and preloaded (``shared_preload_libraries``): CREATE EXTENSION would work."""
    if not timescaledb_available(conn):
        return False
    preload = conn.execute(text("SELECT current_setting('shared_preload_libraries')")).scalar()
    return "timescaledb" in str(preload or "")


def timescaledb_installed(conn: Connection) -> bool:
    """True when the extension is created in the current database."""
    found = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).scalar()
    return found is not None


def is_hypertable(conn: Connection, table: str) -> bool:
    """True when ``table`` is a TimescaleDB hypertable (False without the extension)."""
    if not timescaledb_installed(conn):
        return False
    found = conn.execute(
        text("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = :t"),
        {"t": table},
    ).scalar()
    return found is not None
