"""The array reader: a known small dataset round-trips exactly; NaN where no row; halted kept."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import Connection, Engine, text

from krstock.db.reader import load_fx, load_market_window, load_series, trading_days

pytestmark = pytest.mark.integration

D1, D2, D3, D4 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)


def _seed(conn: Connection) -> None:
    conn.execute(
        text(
            "INSERT INTO stocks (ticker, name, market, is_etf, is_preferred) VALUES "
            "('000001', 'Alpha', 'KOSPI', false, false), "
            "('000002', 'Beta ETF', 'KOSPI', true, false), "
            "('000003', 'Gamma우', 'KOSDAQ', false, true)"
        )
    )
    prices = [
        # ticker, date, open, high, low, close, volume, trading_value, halted
        ("000001", D1, 100, 110, 90, 105, 1000, 105000, False),
        ("000001", D2, 105, 120, 100, 118, 2000, None, False),
        ("000001", D3, 118, 118, 118, 118, 0, 0, True),
        ("000001", D4, 118, 130, 117, 125, 3000, 375000, False),
        ("000002", D2, 50, 51, 49, 50, 10, 500, False),
        ("000002", D4, 52, 53, 51, 52, 11, 572, False),
        # 000003 only has flows (no price rows) on D4
        ("000009", date(2023, 12, 29), 1, 1, 1, 1, 1, 1, False),
    ]
    for row in prices:
        conn.execute(
            text(
                "INSERT INTO daily_prices (ticker, date, open, high, low, close, volume, "
                "trading_value, halted) VALUES (:t, :d, :o, :h, :l, :c, :v, :tv, :halt)"
            ),
            dict(zip(["t", "d", "o", "h", "l", "c", "v", "tv", "halt"], row, strict=True)),
        )
    flows = [
        ("000001", D1, "foreign", 10, 1050),
        ("000001", D1, "institution", -5, -525),
        ("000001", D1, "individual", -5, -525),
        ("000001", D2, "foreign", 0, None),  # a real zero in shares, KRW unknown
        ("000002", D4, "institution", None, 5200),
        ("000003", D4, "foreign", 7, 700),
        ("000001", date(2024, 1, 6), "foreign", 99, 99),  # not a trading day: dropped
    ]
    for ticker, day, investor, shares, krw in flows:
        conn.execute(
            text(
                "INSERT INTO investor_flows (ticker, date, investor, net_volume, net_value) "
                "VALUES (:t, :d, :i, :s, :k)"
            ),
            {"t": ticker, "d": day, "i": investor, "s": shares, "k": krw},
        )


@pytest.fixture
def seeded(db_engine: Engine) -> Engine:
    with db_engine.begin() as conn:
        _seed(conn)
    return db_engine


def test_window_round_trips_exactly(seeded: Engine) -> None:
    with seeded.connect() as conn:
        window = load_market_window(conn, D4, 4)
    nan = np.nan
    assert list(window.tickers) == ["000001", "000002", "000003"]
    assert list(window.dates) == [np.datetime64(d) for d in (D1, D2, D3, D4)]
    assert window.shape == (3, 4)
    np.testing.assert_array_equal(
        window.close,
        [[105, 118, 118, 125], [nan, 50, nan, 52], [nan, nan, nan, nan]],
    )
    np.testing.assert_array_equal(window.open[0], [100, 105, 118, 118])
    np.testing.assert_array_equal(window.high[1], [nan, 51, nan, 53])
    np.testing.assert_array_equal(window.low[1], [nan, 49, nan, 51])
    np.testing.assert_array_equal(window.volume[0], [1000, 2000, 0, 3000])
    np.testing.assert_array_equal(window.trading_value[0], [105000, nan, 0, 375000])
    np.testing.assert_array_equal(
        window.halted, [[False, False, True, False], [False] * 4, [False] * 4]
    )
    np.testing.assert_array_equal(
        window.foreign_net_shares, [[10, 0, nan, nan], [nan] * 4, [nan, nan, nan, 7]]
    )
    np.testing.assert_array_equal(window.foreign_net_krw[0], [1050, nan, nan, nan])
    np.testing.assert_array_equal(window.inst_net_shares[0], [-5, nan, nan, nan])
    np.testing.assert_array_equal(window.inst_net_krw[1], [nan, nan, nan, 5200])
    assert list(window.names) == ["Alpha", "Beta ETF", "Gamma우"]
    assert list(window.markets) == ["KOSPI", "KOSPI", "KOSDAQ"]
    assert list(window.flags["etf"]) == [False, True, False]
    assert list(window.flags["preferred"]) == [False, False, True]
    assert set(window.flags) == {"etf", "etn", "spac", "reit", "preferred"}


def test_window_is_the_last_n_trading_days_up_to_end(seeded: Engine) -> None:
    with seeded.connect() as conn:
        window = load_market_window(conn, D3, 2)
        assert list(trading_days(conn, D1, 10)) == [
            np.datetime64("2023-12-29"),
            np.datetime64(D1),
        ]
    assert list(window.dates) == [np.datetime64(D2), np.datetime64(D3)]
    assert list(window.tickers) == ["000001", "000002"]
    np.testing.assert_array_equal(window.close[1], [50, np.nan])


def test_window_for_given_tickers_keeps_unknown_ones_as_nan_rows(seeded: Engine) -> None:
    with seeded.connect() as conn:
        window = load_market_window(conn, D4, 4, tickers=["000002", "999999"])
    assert list(window.tickers) == ["000002", "999999"]
    assert np.isnan(window.close[1]).all()
    assert list(window.names) == ["Beta ETF", ""]
    assert list(window.markets) == ["KOSPI", "UNKNOWN"]


def test_flow_days_reads_flows_only_for_the_last_dates(seeded: Engine) -> None:
    with seeded.connect() as conn:
        recent = load_market_window(conn, D4, 4, flow_days=1)
        none = load_market_window(conn, D4, 4, flow_days=0)
        with pytest.raises(ValueError, match="flow_days"):
            load_market_window(conn, D4, 4, flow_days=-1)
    nan = np.nan
    # Only D4's flows are read: D1/D2 flow cells are NaN, prices are untouched.
    np.testing.assert_array_equal(
        recent.foreign_net_shares, [[nan] * 4, [nan] * 4, [nan, nan, nan, 7]]
    )
    np.testing.assert_array_equal(recent.inst_net_krw[1], [nan, nan, nan, 5200])
    np.testing.assert_array_equal(recent.close[0], [105, 118, 118, 125])
    # No flows at all: a ticker that only had flows is not in the window.
    assert list(none.tickers) == ["000001", "000002"]
    assert np.isnan(none.foreign_net_shares).all() and np.isnan(none.inst_net_krw).all()


def test_window_before_any_data_is_empty(seeded: Engine) -> None:
    with seeded.connect() as conn:
        window = load_market_window(conn, date(2000, 1, 1), 5)
    assert window.shape == (0, 0)


def test_window_rejects_bad_input(seeded: Engine) -> None:
    with seeded.connect() as conn:
        with pytest.raises(ValueError, match="days must be positive"):
            load_market_window(conn, D4, 0)
        with pytest.raises(ValueError, match="6-character"):
            load_market_window(conn, D4, 3, tickers=["5930"])


def test_series_and_fx(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO index_prices (code, date, open, high, low, close, volume) VALUES "
                "('KOSPI', '2024-01-02', 1, 2600.5, 2500, 2550.25, 100), "
                "('KOSPI', '2024-01-03', 1, 2610, 2540, 2600, NULL), "
                "('KOSPI', '2024-01-04', 1, 2620, 2550, 2610, 120), "
                "('KOSDAQ', '2024-01-03', NULL, NULL, NULL, 850, NULL)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO fx_rates (pair, date, rate) VALUES "
                "('USDKRW', '2024-01-02', 1300.5), ('USDKRW', '2024-01-03', 1310), "
                "('USDKRW', '2024-01-04', 1320)"
            )
        )
        series = load_series(conn, ["KOSPI", "KOSDAQ", "KOSPI200"], date(2024, 1, 3), 2)
        fx = load_fx(conn, "USDKRW", date(2024, 1, 4), 2)
        with pytest.raises(ValueError):
            load_series(conn, ["KOSPI"], D4, 0)
        with pytest.raises(ValueError):
            load_fx(conn, "USDKRW", D4, -1)
    kospi = series["KOSPI"]
    assert list(kospi.dates) == [np.datetime64("2024-01-02"), np.datetime64("2024-01-03")]
    np.testing.assert_array_equal(kospi.close, [2550.25, 2600])
    assert kospi.high is not None and kospi.volume is not None
    np.testing.assert_array_equal(kospi.high, [2600.5, 2610])
    np.testing.assert_array_equal(kospi.volume, [100, np.nan])
    assert series["KOSDAQ"].close.tolist() == [850.0]
    assert len(series["KOSPI200"].dates) == 0
    assert fx.code == "USDKRW"
    assert fx.close.tolist() == [1310.0, 1320.0]
    assert list(fx.dates) == [np.datetime64("2024-01-03"), np.datetime64("2024-01-04")]
