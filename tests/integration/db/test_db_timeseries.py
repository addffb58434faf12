"""Time-series views: same names, columns and results with or without TimescaleDB."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Connection, Engine, text

from krstock.db.features import is_hypertable, timescaledb_installed

pytestmark = pytest.mark.integration


def _seed(conn: Connection) -> None:
    # Two weeks: Thu 2024-01-04, Fri 01-05 | Mon 01-08 .. Wed 01-10 (weeks start on Monday).
    conn.execute(
        text(
            "INSERT INTO daily_prices (ticker, date, open, high, low, close, volume, trading_value)"
            " VALUES "
            "('000001', '2024-01-04', 100, 110, 95, 105, 10, 1000),"
            "('000001', '2024-01-05', 105, 120, 100, 118, 20, 2000),"
            "('000001', '2024-01-08', 118, 119, 90, 91, 30, NULL),"
            "('000001', '2024-01-09', 91, 150, 91, 140, 40, 4000),"
            "('000001', '2024-01-10', 140, 141, 130, 133, 50, 5000),"
            "('000002', '2024-01-05', 50, 55, 45, 52, 5, 250)"
        )
    )
    rows = []
    for i, day in enumerate(["2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09", "2024-01-10"]):
        rows.append(f"('000001', '{day}', 'foreign', {i + 1}, {(i + 1) * 100})")
        rows.append(f"('000001', '{day}', 'institution', {-(i + 1)}, NULL)")
    rows.append("('000001', '2024-01-10', 'individual', 7, 700)")
    conn.execute(
        text(
            "INSERT INTO investor_flows (ticker, date, investor, net_volume, net_value) VALUES "
            + ", ".join(rows)
        )
    )


def test_weekly_bars(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        _seed(conn)
        rows = conn.execute(
            text(
                "SELECT ticker, week_start, open, high, low, close, volume, trading_value, "
                "trading_days, last_date FROM daily_prices_weekly ORDER BY ticker, week_start"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("000001", date(2024, 1, 1), 100, 120, 95, 118, 30, 3000, 2, date(2024, 1, 5)),
        ("000001", date(2024, 1, 8), 118, 150, 90, 133, 120, 9000, 3, date(2024, 1, 10)),
        ("000002", date(2024, 1, 1), 50, 55, 45, 52, 5, 250, 1, date(2024, 1, 5)),
    ]


def test_weekly_and_rolling_flow_sums(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        _seed(conn)
        weekly = conn.execute(
            text(
                "SELECT week_start, foreign_net_volume, inst_net_volume, individual_net_volume, "
                "foreign_net_value, inst_net_value, flow_rows FROM investor_flows_weekly "
                "ORDER BY week_start"
            )
        ).all()
        rolling = conn.execute(
            text(
                "SELECT date, foreign_net_volume_5d, inst_net_volume_5d, foreign_net_value_5d, "
                "inst_net_value_5d, foreign_net_volume_20d FROM investor_flows_rolling "
                "WHERE ticker = '000001' ORDER BY date"
            )
        ).all()
    assert [tuple(r) for r in weekly] == [
        (date(2024, 1, 1), 3, -3, None, 300, None, 4),
        (date(2024, 1, 8), 12, -12, 7, 1200, None, 7),
    ]
    assert [r[1] for r in rolling] == [1, 3, 6, 10, 15]
    assert [r[2] for r in rolling] == [-1, -3, -6, -10, -15]
    assert rolling[-1][3] == 1500 and rolling[-1][4] is None and rolling[-1][5] == 15


def test_plain_postgres_uses_plain_views(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        if timescaledb_installed(conn):
            pytest.skip("TimescaleDB is installed: continuous aggregates replace plain views")
        kinds = dict(
            conn.execute(
                text(
                    "SELECT table_name, table_type FROM information_schema.tables "
                    "WHERE table_name IN "
                    "('daily_prices_weekly', 'investor_flows_weekly', 'investor_flows_rolling')"
                )
            ).all()
        )
        assert not is_hypertable(conn, "daily_prices")
    assert kinds == {
        "daily_prices_weekly": "VIEW",
        "investor_flows_weekly": "VIEW",
        "investor_flows_rolling": "VIEW",
    }


@pytest.fixture
def timescale(db_engine: Engine) -> Engine:
    with db_engine.connect() as conn:
        if not timescaledb_installed(conn):
            pytest.skip(
                "TimescaleDB extension not available on this PostgreSQL "
                "(pg_available_extensions has no timescaledb); plain views are tested instead"
            )
    return db_engine


@pytest.mark.timescale
def test_timescale_hypertables_policies_and_aggregates(timescale: Engine) -> None:
    with timescale.begin() as conn:
        for table in ("daily_prices", "investor_flows", "index_prices", "fx_rates"):
            assert is_hypertable(conn, table), table
        jobs = set(
            conn.execute(
                text("SELECT proc_name || ':' || hypertable_name FROM timescaledb_information.jobs")
            ).scalars()
        )
        assert "policy_compression:daily_prices" in jobs
        assert "policy_compression:investor_flows" in jobs
        aggregates = set(
            conn.execute(
                text("SELECT view_name FROM timescaledb_information.continuous_aggregates")
            ).scalars()
        )
        assert aggregates == {"daily_prices_weekly", "investor_flows_weekly"}
        _seed(conn)


@pytest.mark.timescale
def test_timescale_refreshed_aggregates_match_plain_sql(timescale: Engine) -> None:
    with timescale.begin() as conn:
        _seed(conn)
    # Background jobs fail on Debian's PG 15 build: call the refresh directly (autocommit).
    with timescale.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CALL refresh_continuous_aggregate('daily_prices_weekly', NULL, NULL)"))
        conn.execute(text("CALL refresh_continuous_aggregate('investor_flows_weekly', NULL, NULL)"))
        chunks = conn.execute(text("SELECT show_chunks('daily_prices')")).scalars().all()
        for chunk in chunks:
            conn.execute(text("SELECT compress_chunk(:c, if_not_compressed => true)"), {"c": chunk})
        weekly = conn.execute(
            text(
                "SELECT ticker, week_start, open, close, volume FROM daily_prices_weekly "
                "ORDER BY 1, 2"
            )
        ).all()
        closes = (
            conn.execute(
                text("SELECT close FROM daily_prices WHERE ticker = '000001' ORDER BY date")
            )
            .scalars()
            .all()
        )
    assert [tuple(r) for r in weekly] == [
        ("000001", date(2024, 1, 1), 100, 118, 30),
        ("000001", date(2024, 1, 8), 118, 133, 120),
        ("000002", date(2024, 1, 1), 50, 52, 5),
    ]
    assert closes == [105, 118, 91, 140, 133]
