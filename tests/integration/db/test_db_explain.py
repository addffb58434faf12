"""The hot queries use indexes on realistic row counts (2,500 tickers × 260 days).

Data is generated in SQL (generate_series) and ANALYZEd once for the module; each check runs the
real statement (captured from the repository/reader call) under EXPLAIN and walks the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.orm import Session

from krstock.db import reader, timescale
from krstock.db.features import is_hypertable
from krstock.db.repositories import PriceRepository, ScanRunRepository, SignalRepository

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TICKERS, DAYS = 2500, 260
LAST_DAY = date(2024, 12, 31)

# Bulk-load fast in this throwaway copy: unlogged tables, indexes dropped during the load and
# rebuilt afterwards with the migration's names and columns (what EXPLAIN must find).
SEED = [
    "SET maintenance_work_mem = '256MB'",
    "ALTER TABLE daily_prices SET UNLOGGED",
    "ALTER TABLE investor_flows SET UNLOGGED",
    "ALTER TABLE daily_prices DROP CONSTRAINT pk_daily_prices",
    "DROP INDEX ix_daily_prices_date_ticker",
    "ALTER TABLE investor_flows DROP CONSTRAINT pk_investor_flows",
    "DROP INDEX ix_investor_flows_date_ticker",
    f"""
    INSERT INTO daily_prices (ticker, date, open, high, low, close, volume, trading_value)
    SELECT lpad(t::text, 6, '0'), DATE '{LAST_DAY}' - n, 1000, 1100, 900,
           1000 + (t + n) % 50, t * 10, t * 1000
    FROM generate_series(1, {TICKERS}) t, generate_series(0, {DAYS - 1}) n
    """,
    """
    INSERT INTO investor_flows (ticker, date, investor, net_volume, net_value)
    SELECT ticker, date, 'foreign', volume - 5, (volume - 5) * close FROM daily_prices
    """,
    "ALTER TABLE daily_prices ADD CONSTRAINT pk_daily_prices PRIMARY KEY (ticker, date)",
    "CREATE INDEX ix_daily_prices_date_ticker ON daily_prices (date, ticker)",
    "ALTER TABLE investor_flows ADD CONSTRAINT pk_investor_flows "
    "PRIMARY KEY (ticker, date, investor)",
    "CREATE INDEX ix_investor_flows_date_ticker ON investor_flows (date, ticker)",
    """
    INSERT INTO scan_runs (id, kind, scan_date, status, scanjob, created_at)
    SELECT 'run-' || i, CASE WHEN i % 2 = 0 THEN 'vcp' ELSE 'collect' END,
           DATE '2024-12-31' - (i % 260), 'SUCCEEDED', 'ns/job-' || (i % 200),
           now() - make_interval(mins => i)
    FROM generate_series(1, 20000) i
    """,
    """
    INSERT INTO signals (strategy, ticker, signal_date, status, score)
    SELECT s, lpad(t::text, 6, '0'), DATE '2024-12-31' - n,
           CASE WHEN n < 3 THEN 'OPEN' ELSE 'CLOSED' END, t % 100
    FROM unnest(ARRAY['vcp', 'closing_bet']) s,
         generate_series(1, 2500, 25) t,
         generate_series(0, 259) n
    """,
    "ANALYZE",
]


@pytest.fixture(scope="module")
def big(admin_url: str, _clone_pool: Any) -> Iterator[Engine]:
    from krstock.db.session import make_engine

    name = _clone_pool.take()
    url = admin_url.rpartition("/")[0] + f"/{name}"
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.begin() as conn:
            # Hypertables cannot be UNLOGGED (TimescaleDB); the rest of the seed is the same.
            hyper = is_hypertable(conn, "daily_prices")
            for statement in SEED:
                if not (hyper and "SET UNLOGGED" in statement):
                    conn.execute(text(statement))
        yield engine
    finally:
        engine.dispose()
        _clone_pool.release(name)


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _explain(conn: Connection, statement: str, params: Any) -> list[dict[str, Any]]:
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute("EXPLAIN (FORMAT JSON) " + statement, params)
        row = cur.fetchone()
    assert row is not None
    return list(_plan_nodes(row[0][0]["Plan"]))


def _captured(engine: Engine, call: Callable[[Session], object]) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with Session(engine) as session:
            call(session)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    assert seen, "the call ran no SELECT"
    return seen


def _relations(conn: Connection, table: str) -> set[str]:
    """``table`` and, on TimescaleDB, its chunks (plans name the chunks they scan)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        return {table} | timescale.chunk_relations(cur, table)


def index_matches(used: str, index: str) -> bool:
    """``used`` is ``index`` or a chunk's copy of it (TimescaleDB names those per chunk, e.g.
    ``1_pk_daily_prices`` or ``_hyper_1_1_chunk_ix_daily_prices_date_ticker``)."""
    return used == index or used.endswith(f"_{index}")


def test_chunk_index_names_match_their_index() -> None:
    assert index_matches("pk_daily_prices", "pk_daily_prices")
    assert index_matches("1_pk_daily_prices", "pk_daily_prices")
    assert index_matches("_hyper_1_1_chunk_pk_daily_prices", "pk_daily_prices")
    assert not index_matches("pk_daily_prices_old", "pk_daily_prices")
    assert not index_matches("xpk_daily_prices", "pk_daily_prices")


def _assert_indexed(
    nodes: list[dict[str, Any]], relations: set[str], index: str | None = None
) -> None:
    on_table = [n for n in nodes if n.get("Relation Name") in relations]
    seq = [n for n in on_table if n["Node Type"] == "Seq Scan"]
    assert not seq, f"sequential scan on {sorted(relations)}: {[n['Node Type'] for n in nodes]}"
    used = {n["Index Name"] for n in nodes if "Index" in n["Node Type"] and "Index Name" in n}
    assert used, f"no index used: {[n['Node Type'] for n in nodes]}"
    if index is not None:
        assert any(index_matches(u, index) for u in used), f"expected {index}, plan used {used}"


QUERIES: dict[str, tuple[str, str | None, Callable[[Session], object]]] = {
    "latest bar per ticker": (
        "daily_prices",
        "pk_daily_prices",
        lambda s: PriceRepository(s).latest_bars([f"{i:06d}" for i in range(1, 2501, 7)]),
    ),
    "one ticker's last 300 bars": (
        "daily_prices",
        "pk_daily_prices",
        lambda s: PriceRepository(s).last_bars("000042", 300),
    ),
    "signals by date and strategy": (
        "signals",
        None,
        lambda s: SignalRepository(s).list(strategy="vcp", signal_date=date(2024, 6, 3)),
    ),
    "open signals (by status)": (
        "signals",
        "ix_signals_status_strategy",
        lambda s: SignalRepository(s).open_signals("vcp"),
    ),
    "scan runs by scanjob": (
        "scan_runs",
        "ix_scan_runs_scanjob_created",
        lambda s: ScanRunRepository(s).list(scanjob="ns/job-7"),
    ),
    "trading days (loose index scan)": (
        "daily_prices",
        None,
        lambda s: reader.trading_days(s.connection(), LAST_DAY, 20),
    ),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_hot_query_uses_an_index(big: Engine, name: str) -> None:
    table, index, call = QUERIES[name]
    # Catalog probes (is TimescaleDB installed?) are not the query under test.
    checked = [(s, p) for s, p in _captured(big, call) if table in s]
    assert checked, f"no statement on {table}"
    for statement, params in checked:
        with big.connect() as conn:
            _assert_indexed(_explain(conn, statement, params), _relations(conn, table), index)


@pytest.mark.parametrize(
    ("statement", "table"), [("_PRICES", "daily_prices"), ("_FLOWS", "investor_flows")]
)
def test_window_reads_for_a_date_range_use_the_date_indexes(
    big: Engine, statement: str, table: str
) -> None:
    """Each of the window's two COPYs reads its table through an index on the date range."""
    with big.connect() as conn:
        days = reader.trading_days(conn, LAST_DAY, 20)
        query = sql.SQL(getattr(reader, statement)).format(
            lo=sql.Literal(days[0].item()),
            flow_lo=sql.Literal(days[-5].item()),  # scans read flows for fewer days than prices
            hi=sql.Literal(days[-1].item()),
            flow_tickers=sql.SQL(""),
            price_tickers=sql.SQL(""),
        )
        raw = conn.connection.driver_connection
        assert raw is not None
        nodes = _explain(conn, query.as_string(raw), None)
        relations = _relations(conn, table)
    if len(relations) > 1:
        # A TimescaleDB hypertable: chunks wholly inside the dates are read whole (a sequential
        # scan is right there); what matters is that the other chunks are left out.
        scanned = {n["Relation Name"] for n in nodes if n.get("Relation Name") in relations}
        assert scanned and len(scanned) < len(relations - {table}), scanned
        return
    _assert_indexed(nodes, relations)


def test_window_read_returns_the_whole_universe(big: Engine) -> None:
    with big.connect() as conn:
        window = reader.load_market_window(conn, LAST_DAY, 20)
    assert window.shape == (TICKERS, 20)
    assert not (window.close != window.close).any()  # no NaN: every cell has a row
