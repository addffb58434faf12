"""bulk_upsert's fast paths: COPY BINARY built with numpy (same stored values as CSV) and the
plain INSERT of a first load (falling back to the upsert when a key exists)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import psycopg
import pytest
from sqlalchemy import Connection, Engine, text

from krstock.db import bulk
from krstock.db.bulk import UpsertCounts, bulk_upsert

pytestmark = pytest.mark.integration

PRICE_TYPES = {
    "ticker": "character varying(6)", "date": "date", "open": "bigint", "high": "bigint",
    "low": "bigint", "close": "bigint", "volume": "bigint", "trading_value": "bigint",
    "change": "bigint", "change_pct": "double precision", "halted": "boolean",
    "source": "character varying(32)",
}  # fmt: skip


def _prices() -> pd.DataFrame:
    """Every nullable column with a NULL somewhere, extreme and fractional values, unicode."""
    return pd.DataFrame(
        {
            "ticker": ["005930", "005930", "00088K", "000660"],
            "date": pd.to_datetime(["1999-12-31", "2000-01-01", "2024-02-29", "2031-07-04"]),
            "open": [0, 1, 2**40, 70_000],
            "high": [0, 1, 2**40, 71_000],
            "low": [0, 1, 2**40, 69_000],
            "close": [0, 1, 2**40, 70_500],
            "volume": [0, 9_223_372_036_854_775_807, 5, 6],
            "trading_value": pd.array([None, 10, 2**62, 0], dtype="Int64"),
            "change": pd.array([None, -1, 0, 500], dtype="Int64"),
            "change_pct": [np.nan, -0.1, 1e-300, 0.7142857142857143],
            "halted": [True, False, False, False],
            "source": ["krx-csv", None, '한글, "quoted"', ""],
        }
    )


def _stored(conn: Connection, table: str, order: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))]


def test_binary_and_csv_store_the_same_values(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = _prices()
    ready = bulk._copy_ready(prices, PRICE_TYPES, date_text=False)
    assert bulk._binary_rows(ready, PRICE_TYPES) is not None  # really the binary path
    with db_engine.begin() as conn:
        assert bulk_upsert(conn, "daily_prices", prices, ["ticker", "date"]) == UpsertCounts(
            4, 0, 0
        )
        binary_rows = _stored(conn, "daily_prices", "date")
        monkeypatch.setattr(bulk, "_binary_rows", lambda *args: None)
        # The CSV stream of the same frame finds every row unchanged (IS DISTINCT FROM is exact).
        assert bulk_upsert(conn, "daily_prices", prices, ["ticker", "date"]) == UpsertCounts(
            0, 0, 4
        )
    assert binary_rows[0][1].isoformat() == "1999-12-31"
    assert binary_rows[0][7:10] == (None, None, None)  # trading_value, change, change_pct NULL
    by_source = {row[11] for row in binary_rows}
    assert by_source == {"krx-csv", None, '한글, "quoted"', ""}
    assert 1e-300 in {row[9] for row in binary_rows}


def test_binary_copy_still_enforces_the_column_length(db_engine: Engine) -> None:
    prices = _prices().head(1).assign(source="x" * 33)  # source is VARCHAR(32)
    with pytest.raises(psycopg.errors.StringDataRightTruncation), db_engine.begin() as conn:
        bulk_upsert(conn, "daily_prices", prices, ["ticker", "date"])


def test_out_of_range_integers_are_left_to_postgresql() -> None:
    column = pd.Series([2**40], dtype="Int64")
    assert bulk._binary_field(column, "integer") is None  # CSV path: PostgreSQL errors
    assert bulk._binary_field(column, "bigint") is not None


def test_first_load_inserts_then_a_mixed_load_upserts(db_engine: Engine) -> None:
    prices = _prices()
    with db_engine.begin() as conn:
        assert bulk_upsert(conn, "daily_prices", prices.head(2), ["ticker", "date"]) == (
            UpsertCounts(2, 0, 0)
        )
        changed = prices.assign(close=prices["close"] + 1)
        assert bulk_upsert(conn, "daily_prices", changed, ["ticker", "date"]) == UpsertCounts(
            2, 2, 0
        )
        assert conn.execute(text("SELECT count(*) FROM daily_prices")).scalar_one() == 4


def test_plain_insert_falls_back_when_a_key_collides_meanwhile(db_engine: Engine) -> None:
    """A unique violation in the plain INSERT (here: a key twice in staging, standing in for a
    row another session inserted after the EXISTS check) rolls back to the savepoint only."""
    with db_engine.begin() as conn:
        raw = bulk._raw(conn)
        with raw.cursor() as cur:
            cur.execute("CREATE TEMP TABLE stage_twice AS SELECT ticker FROM stocks WITH NO DATA")
            cur.execute("INSERT INTO stage_twice VALUES ('005930'), ('005930')")
            assert (
                bulk._insert_new_only(cur, "stocks", "stage_twice", ["ticker"], ["ticker"]) is None
            )
            cur.execute("SELECT count(*) FROM stocks")
            assert cur.fetchone() == (0,)  # the transaction is still usable
            cur.execute("DELETE FROM stage_twice")
            cur.execute("INSERT INTO stage_twice VALUES ('005930')")
            assert bulk._insert_new_only(cur, "stocks", "stage_twice", ["ticker"], ["ticker"]) == (
                1,
                0,
            )


def test_many_row_layouts_fall_back_to_csv_with_the_same_result(db_engine: Engine) -> None:
    """Names of 100 different lengths: too many binary layouts, so the CSV stream is used."""
    stocks = pd.DataFrame(
        {
            "ticker": [f"{i:06d}" for i in range(100)],
            "name": ["가" * i for i in range(100)],
            "sector": [None if i % 3 else f"s{i}" for i in range(100)],
        }
    )
    types = {"ticker": "character varying(6)", "name": "text", "sector": "text"}
    assert bulk._binary_rows(stocks, types) is None
    assert bulk._binary_rows(stocks.head(10), types) is not None
    with db_engine.begin() as conn:
        assert bulk_upsert(conn, "stocks", stocks, ["ticker"]) == UpsertCounts(100, 0, 0)
        stored = _stored(conn, "stocks", "ticker")
    assert [row[1] for row in stored] == list(stocks["name"])


def test_times_on_the_same_day_are_one_key(db_engine: Engine) -> None:
    prices = (
        _prices()
        .head(2)
        .assign(ticker="005930", date=pd.to_datetime(["2024-01-02 09:00", "2024-01-02 15:30"]))
    )
    with db_engine.begin() as conn:
        counts = bulk_upsert(conn, "daily_prices", prices, ["ticker", "date"])
        stored = _stored(conn, "daily_prices", "date")
    assert counts == UpsertCounts(1, 0, 0, duplicates=1)
    assert stored[0][5] == 1  # the later row's close won


def test_count_existing_matches_dates_and_ignores_missing_keys(db_engine: Engine) -> None:
    from krstock.db.bulk import count_existing

    prices = _prices()
    with db_engine.begin() as conn:
        bulk_upsert(conn, "daily_prices", prices, ["ticker", "date"])
        keys = pd.DataFrame(
            {
                "ticker": ["005930", "005930", "005930", "000660", "005930"],
                "date": pd.to_datetime(
                    ["1999-12-31", "2000-01-01", "2000-01-02", "2031-07-04", None]
                ),
            }
        )
        # 2000-01-02 is not stored and NaT matches nothing; the duplicate is counted once.
        assert count_existing(conn, "daily_prices", pd.concat([keys, keys.head(1)])) == 3


def test_copy_into_an_empty_table_falls_back_when_a_key_collides_meanwhile(
    db_engine: Engine,
) -> None:
    """A unique violation in the direct COPY (here: a key twice, standing in for a row another
    session inserted after the emptiness check) rolls back to the savepoint only; a table that
    has rows is never copied into directly."""
    with db_engine.begin() as conn:
        raw = bulk._raw(conn)
        types = bulk._column_types(raw, "stocks")
        frame = pd.DataFrame({"ticker": ["005930", "005930"]})
        twice = bulk._copy_ready(frame, types, date_text=False)
        once = twice.head(1)
        with raw.cursor() as cur:
            assert bulk._copy_into_empty(cur, "stocks", twice, types) is None
            cur.execute("SELECT count(*) FROM stocks")
            assert cur.fetchone() == (0,)  # the transaction is still usable
            assert bulk._copy_into_empty(cur, "stocks", once, types) == (1, 0)
            assert bulk._copy_into_empty(cur, "stocks", once, types) is None


def _stored_keys(conn: Connection) -> list[tuple[str, str]]:
    rows = conn.execute(text("SELECT ticker, date::text FROM daily_prices ORDER BY 1, 2"))
    return [(ticker, day) for ticker, day in rows]


def test_parts_stream_into_an_empty_table_as_they_are_produced(db_engine: Engine) -> None:
    """bulk_upsert_parts consumes a lazy iterator inside one COPY: the first part is in the
    table's COPY before the second is produced; the result equals one bulk_upsert."""
    from krstock.db.bulk import bulk_upsert_parts

    prices = _prices()
    produced: list[int] = []

    def parts() -> Iterator[pd.DataFrame]:
        for i, part in enumerate([prices.iloc[:2], prices.iloc[0:0], prices.iloc[2:]]):
            produced.append(i)
            yield part

    with db_engine.begin() as conn:
        counts = bulk_upsert_parts(conn, "daily_prices", parts(), ["ticker", "date"])
        assert counts == UpsertCounts(4, 0, 0) and produced == [0, 1, 2]
        streamed = _stored(conn, "daily_prices", "date")
        assert len(_stored_keys(conn)) == 4
    with db_engine.begin() as conn:
        conn.execute(text("TRUNCATE daily_prices"))
        bulk_upsert(conn, "daily_prices", prices, ["ticker", "date"])
        assert _stored(conn, "daily_prices", "date") == streamed
        # Into a table with rows the parts are loaded together by bulk_upsert (an upsert).
        again = iter([prices.iloc[:1].assign(close=5), prices.iloc[1:]])
        assert bulk_upsert_parts(conn, "daily_prices", again, ["ticker", "date"]) == (
            UpsertCounts(0, 1, 3)
        )


@pytest.mark.parametrize(
    "second",
    [
        "the first part again",  # a key in two parts: the unique violation ends the stream
        "other columns",
        "a part the binary writer cannot encode",
    ],
)
def test_a_stream_that_cannot_finish_falls_back_to_one_upsert(
    db_engine: Engine, second: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from krstock.db.bulk import bulk_upsert_parts

    prices = _prices()
    first = prices.iloc[:2]
    other = {
        "the first part again": first.assign(close=9),
        "other columns": prices.iloc[2:].drop(columns="source"),
        "a part the binary writer cannot encode": prices.iloc[2:],
    }[second]
    if second == "a part the binary writer cannot encode":
        encode = bulk._binary_rows
        calls: list[int] = []

        def second_fails(ready: pd.DataFrame, types: dict[str, str]) -> list[memoryview] | None:
            calls.append(1)
            return None if len(calls) == 2 else encode(ready, types)

        monkeypatch.setattr(bulk, "_binary_rows", second_fails)
    with db_engine.begin() as conn:
        counts = bulk_upsert_parts(conn, "daily_prices", iter([first, other]), ["ticker", "date"])
        stored = _stored_keys(conn)
    expected = bulk_upsert  # the same rows as one bulk_upsert of the concatenation
    with db_engine.begin() as conn:
        conn.execute(text("TRUNCATE daily_prices"))
        assert counts == expected(
            conn, "daily_prices", pd.concat([first, other], ignore_index=True), ["ticker", "date"]
        )
        assert _stored_keys(conn) == stored


def test_no_parts_or_only_empty_ones_load_nothing(db_engine: Engine) -> None:
    from krstock.db.bulk import bulk_upsert_parts

    with db_engine.begin() as conn:
        assert bulk_upsert_parts(conn, "daily_prices", iter([]), ["ticker"]) == UpsertCounts(
            0, 0, 0
        )
        empty = _prices().iloc[0:0]
        assert bulk_upsert_parts(conn, "daily_prices", iter([empty]), ["ticker", "date"]) == (
            UpsertCounts(0, 0, 0)
        )


def test_a_key_inserted_after_the_diff_meets_on_conflict_and_is_updated(
    db_engine: Engine,
) -> None:
    """The diff table is found in one join; a row another session commits after that (a real
    second connection) is not inserted twice: ON CONFLICT updates it, and the counts say so."""
    prices = _prices().head(2)
    keys = ["ticker", "date"]
    with db_engine.connect() as conn:
        raw = bulk._raw(conn)
        types = bulk._column_types(raw, "daily_prices")
        ready = bulk._copy_ready(prices, types, date_text=False)
        columns = list(ready.columns)
        with raw.cursor() as cur:
            bulk._stage(cur, "stage_meanwhile", "daily_prices", ready, types)
            cur.execute(
                bulk._diff_statement(
                    "daily_prices", "stage_meanwhile", "diff_meanwhile", columns, keys, types,
                    bulk.NO_RULES,
                )
            )  # fmt: skip
            assert cur.rowcount == 2  # both keys are missing
            with db_engine.begin() as other:
                bulk_upsert(other, "daily_prices", prices.head(1).assign(close=7), keys)
            cur.execute(
                bulk._insert_missing_statement(
                    "daily_prices", "diff_meanwhile", columns, keys, types, bulk.NO_RULES
                )
            )
            assert cur.fetchone() == (1, 1)  # one inserted, one updated
        raw.commit()
    with db_engine.connect() as conn:
        closes = conn.execute(text("SELECT close FROM daily_prices ORDER BY date")).scalars()
        assert list(closes) == list(prices["close"])


def test_only_changed_or_missing_rows_reach_the_diff(db_engine: Engine) -> None:
    """A mixed load: one row the same, one changed, two new; the diff holds three rows and the
    counts are 2 inserted, 1 updated, 1 unchanged."""
    prices = _prices()
    keys = ["ticker", "date"]
    with db_engine.begin() as conn:
        bulk_upsert(conn, "daily_prices", prices.head(2), keys)
        mixed = prices.assign(volume=[0, 2, 5, 6])  # row 2 changes, row 1 does not
        assert bulk_upsert(conn, "daily_prices", mixed, keys) == UpsertCounts(2, 1, 1)
        assert bulk_upsert(conn, "daily_prices", mixed, keys) == UpsertCounts(0, 0, 4)
        stored = conn.execute(text("SELECT volume FROM daily_prices ORDER BY date")).scalars()
        assert list(stored) == [0, 2, 5, 6]
