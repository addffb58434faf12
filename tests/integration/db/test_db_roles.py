"""The application role writes rows but cannot change the schema."""

from __future__ import annotations

import psycopg
import pytest

from krstock.db.roles import ensure_app_role
from krstock.db.session import libpq_url

pytestmark = pytest.mark.integration


def test_app_role_can_write_rows(app_db_url: str) -> None:
    with psycopg.connect(libpq_url(app_db_url)) as conn:
        conn.execute("INSERT INTO stocks (ticker, name) VALUES ('005930', 'Samsung')")
        conn.execute("UPDATE stocks SET market = 'KOSPI' WHERE ticker = '005930'")
        # Sequences: a serial id is drawn by the app role.
        row = conn.execute(
            "INSERT INTO scan_runs (id, kind) VALUES ('r1', 'vcp') RETURNING status"
        ).fetchone()
        assert row == ("PENDING",)
        signal_id = conn.execute(
            "INSERT INTO signals (strategy, ticker, signal_date) "
            "VALUES ('vcp', '005930', '2024-01-02') RETURNING id"
        ).fetchone()
        assert signal_id is not None and signal_id[0] >= 1
        # TEMP tables (the bulk loader's staging) are allowed.
        conn.execute("CREATE TEMP TABLE stage (LIKE daily_prices)")
        conn.execute("DELETE FROM signals")
        assert conn.execute("SELECT market FROM stocks").fetchone() == ("KOSPI",)


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE evil (id int)",
        "ALTER TABLE stocks ADD COLUMN evil int",
        "DROP TABLE fx_rates",
        "TRUNCATE daily_prices",
        "CREATE INDEX ix_evil ON stocks (name)",
    ],
)
def test_app_role_cannot_change_the_schema(app_db_url: str, ddl: str) -> None:
    with (
        psycopg.connect(libpq_url(app_db_url)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(ddl)


def test_ensure_app_role_is_idempotent_and_sets_a_password(db_url: str) -> None:
    ensure_app_role(db_url, "krstock_app")
    ensure_app_role(db_url, "krstock_app_pw_test", password="s3cret")
    with psycopg.connect(libpq_url(db_url)) as conn:
        row = conn.execute(
            "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid "
            "WHERE rolname = 'krstock_app_pw_test'"
        ).fetchone()
    assert row == (True, True)


def test_ensure_app_role_rejects_a_bad_name(db_url: str) -> None:
    with pytest.raises(ValueError, match="invalid role name"):
        ensure_app_role(db_url, "bad-name; DROP")


def test_ensure_app_role_survives_concurrent_callers(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    role = "krstock_app_race_test"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: ensure_app_role(db_url, role), range(4)))
    assert results == [None] * 4
    with psycopg.connect(libpq_url(db_url)) as conn:
        granted = conn.execute(
            "SELECT has_table_privilege(%s, 'signals', 'INSERT'), "
            "has_table_privilege(%s, 'signals', 'TRUNCATE')",
            (role, role),
        ).fetchone()
    assert granted == (True, False)
