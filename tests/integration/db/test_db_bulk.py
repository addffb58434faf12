"""bulk_upsert: COPY + one INSERT ... ON CONFLICT, idempotent, NULL/bool/date/JSONB/array safe."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Connection, Engine, text

from krstock.db.bulk import UpdateRules, UpsertCounts, bulk_upsert

pytestmark = pytest.mark.integration


def _prices(n_tickers: int = 3, n_days: int = 4) -> pd.DataFrame:
    tickers = [f"{i:06d}" for i in range(1, n_tickers + 1)]
    days = pd.bdate_range("2024-01-02", periods=n_days)
    rows = [
        {
            "ticker": t,
            "date": d,
            "open": 1000 + i,
            "high": 1010 + i,
            "low": 990 + i,
            "close": 1005 + i,
            "volume": 100 * i,
            "trading_value": float(1005 + i) * 100 * i,
            "change_pct": 0.5,
            "halted": False,
            "source": "test",
        }
        for i, (t, d) in enumerate((t, d) for t in tickers for d in days)
    ]
    return pd.DataFrame(rows)


def test_insert_then_identical_load_changes_nothing(db_engine: Engine) -> None:
    frame = _prices()
    with db_engine.begin() as conn:
        first = bulk_upsert(conn, "daily_prices", frame, ["ticker", "date"])
    assert first == UpsertCounts(inserted=12, updated=0, unchanged=0)
    with db_engine.begin() as conn:
        second = bulk_upsert(conn, "daily_prices", frame, ["ticker", "date"])
    assert second == UpsertCounts(inserted=0, updated=0, unchanged=12)
    assert second.total == 12

    changed = frame.copy()
    changed.loc[0, "close"] = 7777
    extra = changed.iloc[[0]].assign(date=pd.Timestamp("2024-02-01"))
    with db_engine.begin() as conn:
        third = bulk_upsert(conn, "daily_prices", pd.concat([changed, extra]), ["ticker", "date"])
        assert third == UpsertCounts(inserted=1, updated=1, unchanged=11)
        stored = conn.execute(
            text("SELECT close FROM daily_prices WHERE ticker = '000001' AND date = '2024-01-02'")
        ).scalar()
    assert stored == 7777
    assert (first + third).inserted == 13


def test_nan_becomes_null_and_bools_and_floats_round_trip(db_engine: Engine) -> None:
    frame = pd.DataFrame(
        {
            "ticker": ["000010", "000020"],
            "date": [date(2024, 1, 2), date(2024, 1, 2)],
            "open": [100.0, 200.0],
            "high": [110, 210],
            "low": [90, 190],
            "close": [105.4, 204.6],  # float KRW rounds to integer KRW
            "volume": [0, 5],
            "trading_value": [np.nan, 1000.0],
            "change_pct": [np.nan, -1.25],
            "halted": [True, False],
            "source": [None, "x"],
        }
    )
    with db_engine.begin() as conn:
        bulk_upsert(conn, "daily_prices", frame, ["ticker", "date"])
        rows = conn.execute(
            text(
                "SELECT ticker, close, trading_value, change_pct, halted, source "
                "FROM daily_prices ORDER BY ticker"
            )
        ).all()
    assert rows == [
        ("000010", 105, None, None, True, None),
        ("000020", 205, 1000, -1.25, False, "x"),
    ]


def test_duplicate_keys_last_one_wins_and_are_counted(db_engine: Engine) -> None:
    frame = pd.DataFrame(
        {
            "pair": ["USDKRW", "USDKRW", "USDKRW"],
            "date": ["2024-01-02", "2024-01-03", "2024-01-02"],
            "rate": [1300.5, 1301.0, 1299.25],
        }
    )
    with db_engine.begin() as conn:
        counts = bulk_upsert(conn, "fx_rates", frame, ["pair", "date"])
        rate = conn.execute(text("SELECT rate FROM fx_rates WHERE date = '2024-01-02'")).scalar()
    assert counts == UpsertCounts(inserted=2, updated=0, unchanged=0, duplicates=1)
    assert rate == 1299.25


def test_jsonb_and_arrays_and_server_defaults(db_engine: Engine) -> None:
    runs = pd.DataFrame(
        {
            "id": ["run-1", "run-2"],
            "kind": ["vcp", "collect"],
            "counts": [{"signals": 3, "nested": {"a": [1, 2]}}, None],
            "params": [{"note": '한글 "quoted", comma'}, {}],
        }
    )
    keys = pd.DataFrame(
        {
            "name": ["ci"],
            "prefix": ["ks_abc"],
            "key_hash": ["h"],
            "scopes": [["read", "write"]],
        }
    )
    with db_engine.begin() as conn:
        # A column left out of the frame gets the server default on insert.
        bulk_upsert(conn, "scan_runs", runs.iloc[[0]], ["id"])
        bulk_upsert(conn, "scan_runs", runs.iloc[[1]].drop(columns=["counts"]), ["id"])
        bulk_upsert(conn, "api_keys", keys, ["name"])
        stored = conn.execute(
            text("SELECT id, status, counts, params FROM scan_runs ORDER BY id")
        ).all()
        scopes = conn.execute(text("SELECT scopes FROM api_keys")).scalar()
    assert stored[0] == (
        "run-1",
        "PENDING",
        {"signals": 3, "nested": {"a": [1, 2]}},
        {"note": '한글 "quoted", comma'},
    )
    assert stored[1] == ("run-2", "PENDING", {}, {})
    assert scopes == ["read", "write"]


def test_updated_at_moves_only_when_a_row_changes(db_engine: Engine) -> None:
    stocks = pd.DataFrame({"ticker": ["005930"], "name": ["Samsung"], "is_etf": [False]})
    with db_engine.begin() as conn:
        bulk_upsert(conn, "stocks", stocks, ["ticker"])
        conn.execute(text("UPDATE stocks SET updated_at = '2000-01-01'"))
        assert bulk_upsert(conn, "stocks", stocks, ["ticker"]).unchanged == 1
        kept = conn.execute(text("SELECT updated_at FROM stocks")).scalar()
        assert kept == datetime(2000, 1, 1, tzinfo=UTC)
        assert bulk_upsert(conn, "stocks", stocks.assign(name="삼성전자"), ["ticker"]).updated == 1
        moved = conn.execute(text("SELECT updated_at FROM stocks")).scalar()
    assert moved > datetime(2000, 1, 1, tzinfo=UTC)


def test_key_only_frame_inserts_missing_rows_and_ignores_existing(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        one = bulk_upsert(conn, "stocks", pd.DataFrame({"ticker": ["000001"]}), ["ticker"])
        two = bulk_upsert(
            conn, "stocks", pd.DataFrame({"ticker": ["000001", "000002"]}), ["ticker"]
        )
    assert one == UpsertCounts(1, 0, 0)
    assert two == UpsertCounts(1, 0, 1)


KEYS = ["ticker", "date"]
ROUNDED = UpdateRules(precision={"change_pct": 2}, provenance=frozenset({"source"}))


def _stored_pct_and_source(conn: Connection) -> list[tuple[float | None, str]]:
    rows = conn.execute(
        text("SELECT change_pct, source FROM daily_prices WHERE ticker = '000001' ORDER BY date")
    )
    return [(pct, source) for pct, source in rows]


def test_a_rounded_copy_of_stored_prices_changes_nothing(db_engine: Engine) -> None:
    """A file that rounds change_pct to 2 decimals does not cut the stored digits, and its
    source label alone is no change; a real difference still updates (and then the stored
    digits that round to the file's value are kept)."""
    precise = _prices(1, 4).assign(change_pct=[2.142161, -0.474, None, 3.125], source="krx")
    with db_engine.begin() as conn:
        bulk_upsert(conn, "daily_prices", precise, ["ticker", "date"])
    # 3.125 -> 3.12: Python's round() breaks the tie to even; it is the same number too.
    copy = precise.assign(change_pct=[2.14, -0.47, 0.0, 3.12], source="legacy")
    with db_engine.begin() as conn:
        counts = bulk_upsert(conn, "daily_prices", copy, ["ticker", "date"], ROUNDED)
        # The NULL rate is filled: the only change.
        assert counts == UpsertCounts(inserted=0, updated=1, unchanged=3)
        assert _stored_pct_and_source(conn) == [
            (2.142161, "krx"),
            (-0.474, "krx"),
            (0.0, "legacy"),
            (3.125, "krx"),
        ]
    # Boundaries: 2.142161 is not 2.15, 3.125 is not 3.11; a changed close updates the row but
    # keeps the stored rate that rounds to the file's.
    moved = copy.assign(change_pct=[2.15, -0.47, 0.0, 3.11])
    moved.loc[1, "close"] = 9999
    with db_engine.begin() as conn:
        counts = bulk_upsert(conn, "daily_prices", moved, ["ticker", "date"], ROUNDED)
        assert counts == UpsertCounts(inserted=0, updated=3, unchanged=1)
        assert _stored_pct_and_source(conn) == [
            (2.15, "legacy"),
            (-0.474, "legacy"),
            (0.0, "legacy"),
            (3.11, "legacy"),
        ]
    # Without rules every difference is a change and the file's digits win (last writer wins).
    with db_engine.begin() as conn:
        counts = bulk_upsert(conn, "daily_prices", copy, ["ticker", "date"])
        assert counts == UpsertCounts(inserted=0, updated=3, unchanged=1)
        assert [pct for pct, _ in _stored_pct_and_source(conn)] == [2.14, -0.47, 0.0, 3.12]


def test_an_empty_derived_value_keeps_the_stored_one(db_engine: Engine) -> None:
    """keep_on_null: a source that has no value for a column does not erase another source's;
    a value it does give still wins."""
    keep = UpdateRules(keep_on_null=frozenset({"change_pct"}))
    with db_engine.begin() as conn:
        bulk_upsert(conn, "daily_prices", _prices(1, 2).assign(change_pct=[0.0, 1.5]), KEYS)
        no_rates = _prices(1, 2).assign(change_pct=[None, None])
        assert bulk_upsert(conn, "daily_prices", no_rates, KEYS, keep) == UpsertCounts(0, 0, 2)
        assert [pct for pct, _ in _stored_pct_and_source(conn)] == [0.0, 1.5]
        one_rate = _prices(1, 2).assign(change_pct=[None, 2.5])
        assert bulk_upsert(conn, "daily_prices", one_rate, KEYS, keep) == UpsertCounts(0, 1, 1)
        assert [pct for pct, _ in _stored_pct_and_source(conn)] == [0.0, 2.5]
        # Without the rule a NULL is a value like any other.
        assert bulk_upsert(conn, "daily_prices", no_rates, KEYS) == UpsertCounts(0, 2, 0)


def test_update_rules_name_a_roundable_column_of_the_frame(db_engine: Engine) -> None:
    with db_engine.begin() as conn, pytest.raises(ValueError, match="not in the frame"):
        bulk_upsert(conn, "fx_rates", _fx(), ["pair", "date"], UpdateRules(precision={"x": 2}))
    with db_engine.begin() as conn, pytest.raises(ValueError, match="floating or numeric"):
        bulk_upsert(
            conn, "daily_prices", _prices(1, 1), ["ticker", "date"], UpdateRules({"volume": 0})
        )
    with db_engine.begin() as conn, pytest.raises(ValueError, match="digits >= 0"):
        bulk_upsert(conn, "fx_rates", _fx(), ["pair", "date"], UpdateRules({"rate": -1}))


def test_provenance_only_frame_never_updates(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        stock = pd.DataFrame({"ticker": ["005930"], "source": ["a"]})
        bulk_upsert(conn, "stocks", stock, ["ticker"])
        rules = UpdateRules(provenance=frozenset({"source"}))
        relabelled = stock.assign(source="b")
        assert bulk_upsert(conn, "stocks", relabelled, ["ticker"], rules) == UpsertCounts(0, 0, 1)
        assert conn.execute(text("SELECT source FROM stocks")).scalar_one() == "a"


def test_empty_frame_is_a_no_op(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        assert bulk_upsert(conn, "fx_rates", _fx().iloc[0:0], ["pair", "date"]) == UpsertCounts(
            0, 0, 0
        )


def _fx() -> pd.DataFrame:
    return pd.DataFrame({"pair": ["USDKRW"], "date": [date(2024, 1, 2)], "rate": [1300.0]})


@pytest.mark.parametrize(
    ("table", "frame", "keys", "message"),
    [
        ("fx_rates", _fx(), [], "key_columns"),
        ("fx_rates", _fx(), ["missing"], "not in the frame"),
        ("fx_rates", _fx().assign(bogus=1), ["pair", "date"], "not in table"),
        ("no_such_table", _fx(), ["pair"], "unknown table"),
        (
            "daily_prices",
            _prices(1, 1).assign(volume="lots"),
            ["ticker", "date"],
            "must be integers",
        ),
        (
            "daily_prices",
            _prices(1, 1).assign(halted="maybe"),
            ["ticker", "date"],
            "must be booleans",
        ),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(
    db_engine: Engine, table: str, frame: pd.DataFrame, keys: list[str], message: str
) -> None:
    with db_engine.begin() as conn, pytest.raises(ValueError, match=message):
        bulk_upsert(conn, table, frame, keys)


def test_duplicate_frame_columns_are_rejected(db_engine: Engine) -> None:
    frame = pd.concat([_fx(), _fx()[["rate"]]], axis=1)
    with db_engine.begin() as conn, pytest.raises(ValueError, match="duplicate column"):
        bulk_upsert(conn, "fx_rates", frame, ["pair", "date"])


def test_the_app_role_can_bulk_load(app_db_url: str) -> None:
    from krstock.db.session import make_engine

    engine = make_engine(app_db_url)
    try:
        with engine.begin() as conn:
            assert (
                bulk_upsert(conn, "daily_prices", _prices(2, 2), ["ticker", "date"]).inserted == 4
            )
        # The reader (COPY TO STDOUT, SET LOCAL) works for the app role too.
        from krstock.db.reader import load_market_window

        with engine.connect() as conn:
            window = load_market_window(conn, date(2024, 1, 3), 2)
        assert window.shape == (2, 2)
    finally:
        engine.dispose()


def test_jsonb_accepts_numpy_decimal_and_dates_but_not_arbitrary_objects(db_engine: Engine) -> None:
    from decimal import Decimal

    payload = {
        "n": np.int64(3),
        "x": np.float64(1.5),
        "ok": np.bool_(True),
        "arr": np.array([1, 2]),
        "d": Decimal("2.25"),
        "day": date(2024, 1, 2),
        1: "int key",
    }
    frame = pd.DataFrame({"id": ["j1"], "kind": ["x"], "params": [payload]})
    with db_engine.begin() as conn:
        bulk_upsert(conn, "scan_runs", frame, ["id"])
        stored = conn.execute(text("SELECT params FROM scan_runs")).scalar()
    assert stored == {
        "n": 3,
        "x": 1.5,
        "ok": True,
        "arr": [1, 2],
        "d": 2.25,
        "day": "2024-01-02",
        "1": "int key",
    }
    bad = pd.DataFrame({"id": ["j2"], "kind": ["x"], "params": [{"o": object()}]})
    with db_engine.begin() as conn, pytest.raises(TypeError, match="JSONB"):
        bulk_upsert(conn, "scan_runs", bad, ["id"])
