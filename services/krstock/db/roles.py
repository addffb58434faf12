"""The application's least-privilege role: reads and writes rows, never changes the schema.

Migrations run as the schema owner; services connect as ``Settings.app_role``. The role may
SELECT/INSERT/UPDATE/DELETE every table, use sequences and create TEMP tables (the bulk loader
stages COPY data there) but owns nothing, so CREATE/ALTER/DROP TABLE and TRUNCATE fail.
"""

from __future__ import annotations

import contextlib
import re
import time

import psycopg
from psycopg import sql

from krstock.db.session import libpq_url

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _validate(role: str) -> None:
    if not _ROLE_NAME.match(role):
        raise ValueError(f"invalid role name {role!r}: use lower-case letters, digits and _")


def _create_role(conn: psycopg.Connection, role: str, password: str | None) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    ident = sql.Identifier(role)
    if not exists:
        # Another process may create it concurrently: the same result.
        with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOINHERIT").format(ident))
    if password is not None:
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(password))
        )


def _grant(conn: psycopg.Connection, role: str) -> None:
    ident = sql.Identifier(role)
    statements = [
        "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {role}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        "REVOKE CREATE ON SCHEMA public FROM {role}",
        "GRANT USAGE ON SCHEMA public TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # Tables added by later migrations (run by this same owner) get the same grants.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]
    database = conn.execute("SELECT current_database()").fetchone()
    assert database is not None
    for statement in statements:
        conn.execute(sql.SQL(statement).format(db=sql.Identifier(database[0]), role=ident))


def ensure_app_role(owner_url: str, role: str, password: str | None = None) -> None:
    """Create ``role`` if needed and grant it row access (not DDL) on the database at ``owner_url``.

    Idempotent; run it after ``krstock db upgrade`` as the schema owner. ``password`` (optional)
    is set on the role; with trust or peer authentication none is needed.
    """
    _validate(role)
    for attempt in range(5):
        try:
            with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
                _create_role(conn, role, password)
                _grant(conn, role)
            return
        except psycopg.errors.InternalError_ as exc:
            # "tuple concurrently updated": another process granted on the same catalog row.
            if "concurrently" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
