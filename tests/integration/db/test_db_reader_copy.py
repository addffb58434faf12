"""The reader's binary COPY against PostgreSQL: what it returns, the errors it raises and the
state it leaves the connection in; and the window built from it, checked cell by cell against
a plain reading of the tables (gaps, NULLs, other investors, flows off the trading days, a
ticker wider than 8 bytes, many blocks)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Connection, Engine, text

from krstock.db import reader
from krstock.db.reader import CopyColumn, CopyStream, copy_binary, load_market_window

pytestmark = pytest.mark.integration


def _copy(conn: Connection, query: str, types: tuple[str, ...]) -> list[CopyColumn]:
    stream: CopyStream[list[CopyColumn]] = CopyStream(types, lambda columns: columns)
    blocks = copy_binary(conn, sql.SQL(query), stream)
    return reader.concatenate_columns(blocks, types)


@pytest.fixture
def conn(db_engine: Engine) -> Iterator[Connection]:
    with db_engine.connect() as connection:
        yield connection


def test_copy_returns_every_type_and_null(conn: Connection) -> None:
    columns = _copy(
        conn,
        "SELECT * FROM (VALUES "
        "('005930'::text, DATE '2025-12-30', 1::int2, 2::int4, 3::int8, 0.5::float8, true), "
        "(NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
        "('가나다', DATE '1999-12-31', -1::int2, -2::int4, 9007199254740993::int8, -1e300, false)"
        ") v",
        ("text", "date", "int2", "int4", "int8", "float8", "bool"),
    )
    assert [v.decode() for v in columns[0].values.tolist()] == ["005930", "", "가나다"]
    assert list(columns[1].values.astype(str)) == ["2025-12-30", "NaT", "1999-12-31"]
    assert columns[4].values.tolist() == [3, 0, 9007199254740993]
    assert columns[5].values.tolist() == [0.5, 0.0, -1e300]
    assert columns[6].values.tolist() == [True, False, False]
    for column in columns:
        assert column.null.tolist() == [False, True, False]


def test_copy_of_many_blocks_matches_a_plain_select(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "_BLOCK_ROWS", 997)
    query = (
        "SELECT lpad(i::text, 6, '0'), CASE WHEN i % 7 = 0 THEN NULL ELSE i::int8 * 1000 END "
        "FROM generate_series(1, 50000) i"
    )
    columns = _copy(conn, query, ("text", "int8"))
    expected = conn.execute(text(query)).all()
    assert [v.decode() for v in columns[0].values.tolist()] == [r[0] for r in expected]
    stored = zip(columns[1].values.tolist(), columns[1].null, strict=True)
    assert [None if null else value for value, null in stored] == [r[1] for r in expected]


def test_copy_of_no_rows(conn: Connection) -> None:
    columns = _copy(conn, "SELECT 'x'::text, 1::int8 WHERE false", ("text", "int8"))
    assert [len(c.values) for c in columns] == [0, 0]


def test_copy_sees_the_transaction_it_runs_in(conn: Connection) -> None:
    conn.execute(text("CREATE TEMP TABLE t (v int8)"))
    conn.execute(text("INSERT INTO t VALUES (41), (42)"))
    assert _copy(conn, "SELECT v FROM t ORDER BY v", ("int8",))[0].values.tolist() == [41, 42]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("SELECT 1 / (i - 40000) FROM generate_series(1, 50000) i", psycopg.errors.DivisionByZero),
        ("SELECT v FROM no_such_table", psycopg.errors.UndefinedTable),
    ],
)
def test_errors_are_psycopg_errors_and_the_connection_rolls_back(
    conn: Connection, query: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        _copy(conn, query, ("int4",))
    conn.rollback()
    assert conn.execute(text("SELECT 7")).scalar() == 7


def test_an_exception_while_parsing_cancels_the_copy(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "_BLOCK_ROWS", 1000)

    def failing(columns: list[CopyColumn]) -> None:
        raise RuntimeError("digest failed")

    stream: CopyStream[None] = CopyStream(("int8",), failing)
    query = sql.SQL("SELECT i::int8 FROM generate_series(1, 2000000) i")
    with pytest.raises(RuntimeError, match="digest failed"):
        copy_binary(conn, query, stream)
    conn.rollback()
    assert conn.execute(text("SELECT 8")).scalar() == 8


# --- the window against a plain reading of the tables ----------------------------------------

START = date(2024, 3, 4)
WIDE = "ㄱㄴㄷㄹㅁㅂ"  # 6 characters, 18 bytes of UTF-8: keys fall back to bytes


def _seed_market(conn: Connection) -> None:
    rng = np.random.default_rng(7)
    days = [
        START + timedelta(days=i) for i in range(40) if (START + timedelta(days=i)).weekday() < 5
    ]
    prices, flows = [], []
    for t, ticker in enumerate(["000001", "000002", "00003", "0001A0", WIDE, "999990"]):
        for i, day in enumerate(days):
            if ticker == "000002" and i % 3 == 1:
                continue  # a ticker with gaps
            if ticker == "999990" and i < 20:
                continue  # listed late
            close = int(rng.integers(1000, 5000))
            value = None if (ticker == "000001" and i % 4 == 0) else close * 10
            halted = ticker == "0001A0" and i == 5
            prices.append((ticker, day, close, close + 5, close - 5, close, 10 + t, value, halted))
            for investor in ("foreign", "institution", "individual"):
                if ticker == "00003" and investor != "individual":
                    continue  # only another investor's rows: the cells stay NaN
                shares = None if (i + t) % 5 == 0 else int(rng.integers(-500, 500))
                krw = int(rng.integers(-9000, 9000)) if shares is None or i % 2 else None
                flows.append((ticker, day, investor, shares, krw))
    flows.append(("000001", days[-1] + timedelta(days=1), "foreign", 5, 5))  # a Saturday
    flows.append(("777777", days[-3], "institution", 1, None))  # flows, no prices
    conn.execute(
        text(
            "INSERT INTO daily_prices (ticker, date, open, high, low, close, volume, "
            "trading_value, halted) VALUES (:t, :d, :o, :h, :l, :c, :v, :tv, :halted)"
        ),
        [
            dict(zip(["t", "d", "o", "h", "l", "c", "v", "tv", "halted"], p, strict=True))
            for p in prices
        ],
    )
    conn.execute(
        text(
            "INSERT INTO investor_flows (ticker, date, investor, net_volume, net_value) "
            "VALUES (:t, :d, :i, :s, :k)"
        ),
        [dict(zip(["t", "d", "i", "s", "k"], f, strict=True)) for f in flows],
    )


def _reference(
    conn: Connection, end: date, days: int, tickers: list[str] | None, flow_days: int | None
) -> dict[str, Any]:
    """The window by plain SELECTs and Python loops: what load_market_window must return."""
    dates = [
        r[0]
        for r in conn.execute(
            text(
                "SELECT DISTINCT date FROM daily_prices WHERE date <= :e "
                "ORDER BY date DESC LIMIT :n"
            ),
            {"e": end, "n": days},
        )
    ][::-1]
    lo, hi = dates[0], dates[-1]
    flow_lo = dates[0] if not flow_days else dates[max(0, len(dates) - flow_days)]
    only = "AND ticker = ANY(:tk)" if tickers is not None else ""
    params = {"lo": lo, "hi": hi, "flo": flow_lo, "tk": tickers}
    prices = conn.execute(
        text(
            "SELECT ticker, date, open, high, low, close, volume, trading_value, halted "
            f"FROM daily_prices WHERE date BETWEEN :lo AND :hi {only}"
        ),
        params,
    ).all()
    flows = (
        []
        if flow_days == 0
        else conn.execute(
            text(
                "SELECT ticker, date, investor, net_volume, net_value FROM investor_flows "
                f"WHERE date BETWEEN :flo AND :hi {only}"
            ),
            params,
        ).all()
    )
    universe = sorted({r[0] for r in prices} | {r[0] for r in flows} | set(tickers or []))
    row, col = {t: i for i, t in enumerate(universe)}, {d: j for j, d in enumerate(dates)}
    shape = (len(universe), len(dates))
    grids: dict[str, Any] = {name: np.full(shape, np.nan) for name in reader._WINDOW_FIELDS}
    grids["halted"] = np.zeros(shape, dtype=bool)
    names = ("open", "high", "low", "close", "volume", "trading_value")
    for r in prices:
        for name, value in zip(names, r[2:8], strict=True):
            grids[name][row[r[0]], col[r[1]]] = np.nan if value is None else value
        grids["halted"][row[r[0]], col[r[1]]] = r[8]
    prefix = {"foreign": "foreign", "institution": "inst"}
    for ticker, day, investor, shares, krw in flows:
        if investor in prefix and day in col:
            at = row[ticker], col[day]
            grids[f"{prefix[investor]}_net_shares"][at] = np.nan if shares is None else shares
            grids[f"{prefix[investor]}_net_krw"][at] = np.nan if krw is None else krw
    return {"tickers": universe, "dates": dates, **grids}


@pytest.mark.parametrize(
    ("days", "tickers", "flow_days", "block"),
    [
        (28, None, None, 10),
        (28, None, 7, 3),
        (10, None, 0, 32768),
        (28, ["0001A0", WIDE, "123456"], 5, 4),
        (28, ["000002"], None, 1),
    ],
)
def test_window_matches_a_plain_reading(
    db_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    days: int,
    tickers: list[str] | None,
    flow_days: int | None,
    block: int,
) -> None:
    monkeypatch.setattr(reader, "_BLOCK_ROWS", block)
    with db_engine.begin() as conn:
        _seed_market(conn)
    end = START + timedelta(days=38)
    with db_engine.connect() as conn:
        window = load_market_window(conn, end, days, tickers, flow_days=flow_days)
        expected = _reference(conn, end, days, tickers, flow_days)
    assert window.tickers.tolist() == expected["tickers"]
    assert window.tickers.dtype == np.dtype("<U6")
    assert window.dates.tolist() == expected["dates"]
    assert window.dates.dtype == np.dtype("datetime64[D]")
    for name in (*reader._WINDOW_FIELDS, "halted"):
        got = getattr(window, name)
        assert got.dtype == expected[name].dtype, name
        np.testing.assert_array_equal(got, expected[name], err_msg=name)
    if tickers is None:
        assert np.isnan(window.foreign_net_shares[window.index_of("00003")]).all()
        if flow_days is None:
            assert "777777" in window.tickers  # flows without prices still make a row
