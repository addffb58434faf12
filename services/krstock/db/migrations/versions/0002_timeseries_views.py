"""Time-series features: TimescaleDB hypertables, compression and continuous aggregates when the
extension exists; plain views with the same names and columns otherwise.

Either way the application runs the same SQL: ``daily_prices_weekly`` (weekly bars, weeks start on
Monday), ``investor_flows_weekly`` (weekly net flow sums) and ``investor_flows_rolling`` (5- and
20-row rolling sums per ticker, a plain view over the daily pivot in both modes).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HYPERTABLES = {
    # table: chunk interval (a month of ~2,700 tickers is ~60k rows per chunk).
    "daily_prices": "1 month",
    "investor_flows": "1 month",
    "index_prices": "1 year",
    "fx_rates": "1 year",
}
COMPRESSION = {
    # table: (segmentby, orderby); chunks older than the policy age are compressed.
    "daily_prices": ("ticker", "date DESC"),
    "investor_flows": ("ticker, investor", "date DESC"),
}
COMPRESS_AFTER = "180 days"

# The same columns in both modes; sums cast to BIGINT (sum(bigint) is NUMERIC in PostgreSQL).
WEEKLY_BARS_TIMESCALE = """
CREATE MATERIALIZED VIEW daily_prices_weekly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    ticker,
    time_bucket(INTERVAL '1 week', date) AS week_start,
    first(open, date) AS open,
    max(high) AS high,
    min(low) AS low,
    last(close, date) AS close,
    sum(volume)::bigint AS volume,
    sum(trading_value)::bigint AS trading_value,
    count(*)::integer AS trading_days,
    max(date) AS last_date
FROM daily_prices
GROUP BY ticker, time_bucket(INTERVAL '1 week', date)
WITH NO DATA
"""

WEEKLY_BARS_PLAIN = """
CREATE VIEW daily_prices_weekly AS
SELECT
    ticker,
    date_trunc('week', date)::date AS week_start,
    (array_agg(open ORDER BY date))[1] AS open,
    max(high) AS high,
    min(low) AS low,
    (array_agg(close ORDER BY date DESC))[1] AS close,
    sum(volume)::bigint AS volume,
    sum(trading_value)::bigint AS trading_value,
    count(*)::integer AS trading_days,
    max(date) AS last_date
FROM daily_prices
GROUP BY ticker, date_trunc('week', date)::date
"""

_FLOW_SUMS = """
    sum(net_volume) FILTER (WHERE investor = 'foreign')::bigint AS foreign_net_volume,
    sum(net_volume) FILTER (WHERE investor = 'institution')::bigint AS inst_net_volume,
    sum(net_volume) FILTER (WHERE investor = 'individual')::bigint AS individual_net_volume,
    sum(net_value) FILTER (WHERE investor = 'foreign')::bigint AS foreign_net_value,
    sum(net_value) FILTER (WHERE investor = 'institution')::bigint AS inst_net_value,
    sum(net_value) FILTER (WHERE investor = 'individual')::bigint AS individual_net_value,
    count(*)::integer AS flow_rows
"""

WEEKLY_FLOWS_TIMESCALE = f"""
CREATE MATERIALIZED VIEW investor_flows_weekly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    ticker,
    time_bucket(INTERVAL '1 week', date) AS week_start,
    {_FLOW_SUMS}
FROM investor_flows
GROUP BY ticker, time_bucket(INTERVAL '1 week', date)
WITH NO DATA
"""

WEEKLY_FLOWS_PLAIN = f"""
CREATE VIEW investor_flows_weekly AS
SELECT
    ticker,
    date_trunc('week', date)::date AS week_start,
    {_FLOW_SUMS}
FROM investor_flows
GROUP BY ticker, date_trunc('week', date)::date
"""

# Rolling sums over each ticker's flow days (rows, not calendar days); a plain view in both modes
# because continuous aggregates cannot hold window functions.
ROLLING_FLOWS = """
CREATE VIEW investor_flows_rolling AS
WITH daily AS (
    SELECT
        ticker,
        date,
        sum(net_volume) FILTER (WHERE investor = 'foreign') AS foreign_net_volume,
        sum(net_volume) FILTER (WHERE investor = 'institution') AS inst_net_volume,
        sum(net_value) FILTER (WHERE investor = 'foreign') AS foreign_net_value,
        sum(net_value) FILTER (WHERE investor = 'institution') AS inst_net_value
    FROM investor_flows
    GROUP BY ticker, date
)
SELECT
    ticker,
    date,
    sum(foreign_net_volume) OVER w5 ::bigint AS foreign_net_volume_5d,
    sum(inst_net_volume) OVER w5 ::bigint AS inst_net_volume_5d,
    sum(foreign_net_value) OVER w5 ::bigint AS foreign_net_value_5d,
    sum(inst_net_value) OVER w5 ::bigint AS inst_net_value_5d,
    sum(foreign_net_volume) OVER w20 ::bigint AS foreign_net_volume_20d,
    sum(inst_net_volume) OVER w20 ::bigint AS inst_net_volume_20d,
    sum(foreign_net_value) OVER w20 ::bigint AS foreign_net_value_20d,
    sum(inst_net_value) OVER w20 ::bigint AS inst_net_value_20d
FROM daily
WINDOW
    w5 AS (PARTITION BY ticker ORDER BY date ROWS BETWEEN 4 PRECEDING AND CURRENT ROW),
    w20 AS (PARTITION BY ticker ORDER BY date ROWS BETWEEN 19 PRECEDING AND CURRENT ROW)
"""


def timescaledb_usable(bind: sa.Connection) -> bool:
    """The extension is installed on the server and preloaded (CREATE EXTENSION would work)."""
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).scalar()
    if available is None:
        return False
    preload = bind.execute(sa.text("SELECT current_setting('shared_preload_libraries')")).scalar()
    return "timescaledb" in str(preload or "")


def _upgrade_timescale() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    for table, interval in HYPERTABLES.items():
        op.execute(
            f"SELECT create_hypertable('{table}', by_range('date', INTERVAL '{interval}'), "
            # The models have no `<table>_date_idx`; without it `db check` reports drift.
            "create_default_indexes => false, migrate_data => true, if_not_exists => true)"
        )
    for table, (segment_by, order_by) in COMPRESSION.items():
        op.execute(
            f"ALTER TABLE {table} SET (timescaledb.compress, "
            f"timescaledb.compress_segmentby = '{segment_by}', "
            f"timescaledb.compress_orderby = '{order_by}')"
        )
        op.execute(
            f"SELECT add_compression_policy('{table}', INTERVAL '{COMPRESS_AFTER}', "
            "if_not_exists => true)"
        )
    op.execute(WEEKLY_BARS_TIMESCALE)
    op.execute(WEEKLY_FLOWS_TIMESCALE)
    for view in ("daily_prices_weekly", "investor_flows_weekly"):
        op.execute(
            f"SELECT add_continuous_aggregate_policy('{view}', "
            "start_offset => INTERVAL '3 months', "
            "end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour')"
        )


def upgrade() -> None:
    if timescaledb_usable(op.get_bind()):
        _upgrade_timescale()
    else:
        op.execute(WEEKLY_BARS_PLAIN)
        op.execute(WEEKLY_FLOWS_PLAIN)
    op.execute(ROLLING_FLOWS)


def downgrade() -> None:
    # Hypertables stay hypertables (same columns); 0001's downgrade drops them as tables.
    op.execute("DROP VIEW IF EXISTS investor_flows_rolling")
    bind = op.get_bind()
    kinds: dict[str, str] = dict(
        bind.execute(
            sa.text(
                "SELECT c.relname, c.relkind FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() "
                "AND c.relname IN ('daily_prices_weekly', 'investor_flows_weekly')"
            )
        ).all()
    )
    timescale = bind.execute(
        sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    for view in ("investor_flows_weekly", "daily_prices_weekly"):
        if view not in kinds:
            continue
        # A continuous aggregate shows up as a plain view over its materialization hypertable.
        materialized = (
            bool(timescale)
            and bind.execute(
                sa.text(
                    "SELECT 1 FROM timescaledb_information.continuous_aggregates "
                    "WHERE view_name = :v"
                ),
                {"v": view},
            ).scalar()
        )
        op.execute(f"DROP {'MATERIALIZED VIEW' if materialized else 'VIEW'} {view}")
    if timescale:
        for table in COMPRESSION:
            op.execute(f"SELECT remove_compression_policy('{table}', if_exists => true)")
