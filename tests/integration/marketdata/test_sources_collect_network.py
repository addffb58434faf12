"""The krx and yahoo sources' frames go into the real database as they are: collected through
fakes of pykrx and yfinance that answer recorded frames of the real shape (no network)."""

from __future__ import annotations

import sys
import types
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from krstock.ingest.collect import collect
from krstock.marketdata.krx import KrxSource
from krstock.marketdata.yahoo import YahooSource

pytestmark = pytest.mark.integration

DAYS = ["2026-02-09", "2026-02-10"]


def _frame(rows: list[list[float]], index: pd.Index, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, index=index, columns=columns)


class FakePykrxStock:
    """Recorded pykrx 1.2 answers: two trading days, two tickers (000020 halted on the 10th)."""

    ohlcv = ["시가", "고가", "저가", "종가", "거래량", "거래대금", "등락률", "시가총액"]

    def get_market_ticker_list(self, day: str, market: str = "KOSPI") -> list[str]:
        return ["005930", "000020"] if market == "KOSPI" else []

    def get_market_ticker_name(self, ticker: str) -> str:
        return {"005930": "삼성전자", "000020": "동화약품"}[ticker]

    def get_market_ohlcv(self, day: str, market: str = "ALL") -> pd.DataFrame:
        index = pd.Index(["005930", "000020"], name="티커")
        rows = {
            "20260209": [[70500, 71500, 70200, 71000, 14_100_000, 1_001_100_000_000, 0.71, 0],
                         [9800, 9900, 9700, 9850, 120_000, 1_180_000_000, -0.51, 0]],
            "20260210": [[71000, 72500, 70800, 72000, 15_234_567, 1_096_888_824_000, 1.41, 0],
                         [0, 0, 0, 9850, 0, 0, 0.0, 0]],
        }[day]  # fmt: skip
        return _frame(rows, index, self.ohlcv)

    def get_market_net_purchases_of_equities(
        self, fromdate: str, todate: str, market: str, investor: str
    ) -> pd.DataFrame:
        if market != "KOSPI":
            return pd.DataFrame()
        sign = 1 if investor == "외국인" else -1
        columns = ["종목명", "매도거래량", "매수거래량", "순매수거래량",
                   "매도거래대금", "매수거래대금", "순매수거래대금"]  # fmt: skip
        rows = [["삼성전자", 5e6, 6e6, sign * 1_000_000, 3.5e11, 4.2e11, sign * 72_000_000_000],
                ["동화약품", 0, 0, 0, 0, 0, 0]]  # fmt: skip
        return _frame(rows, pd.Index(["005930", "000020"], name="티커"), columns)

    def get_index_ohlcv(self, fromdate: str, todate: str, code: str) -> pd.DataFrame:
        index = pd.DatetimeIndex(pd.to_datetime(DAYS), name="날짜")
        rows = [
            [2640.1, 2660.0, 2630.5, 2653.62, 4.1e8, 1.0e13],
            [2653.6, 2670.2, 2650.0, 2668.9, 4e8, 9e12],
        ]
        return _frame(rows, index, ["시가", "고가", "저가", "종가", "거래량", "거래대금"])

    def get_etf_ohlcv_by_date(self, fromdate: str, todate: str, code: str) -> pd.DataFrame:
        index = pd.DatetimeIndex(pd.to_datetime(DAYS), name="날짜")
        rows = [[35120.5, 35000, 35300, 34900, 35150, 5_123_456, 1.8e11, 354.2]] * 2
        return _frame(
            rows, index, ["NAV", "시가", "고가", "저가", "종가", "거래량", "거래대금", "기초지수"]
        )


def _yf_download(tickers: list[str], **kwargs: Any) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(DAYS), name="Date")
    blocks = {}
    for symbol in tickers:
        base = {"^KS11": 2650.0, "^KQ11": 861.0, "KRW=X": 1438.25}.get(symbol, 35_000.0)
        values = np.array([[base, base * 1.01, base * 0.99, base, 1_000_000.0]] * 2)
        frame = pd.DataFrame(
            values, index=index, columns=["Open", "High", "Low", "Close", "Volume"]
        )
        frame["Adj Close"] = frame["Close"]
        blocks[symbol] = frame
    wide = pd.concat(blocks, axis=1, names=["Ticker", "Price"]).swaplevel(0, 1, axis=1)
    return wide.sort_index(axis=1, level=0)


def test_sources_collect_krx_frames_into_the_database(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = types.ModuleType("pykrx")
    package.stock = FakePykrxStock()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pykrx", package)
    source = KrxSource(as_of=date(2026, 2, 10))
    first = collect(db_engine, source, date(2026, 2, 9), date(2026, 2, 10))
    tables = first["tables"]
    assert tables["daily_prices"]["inserted"] == 4 and tables["investor_flows"]["inserted"] == 8
    assert tables["index_prices"]["inserted"] == 2 * 10
    assert tables["fx_rates"]["skipped"] and tables["news_items"]["skipped"]
    second = collect(db_engine, source, date(2026, 2, 9), date(2026, 2, 10))
    assert all(t["inserted"] == 0 and t["updated"] == 0 for t in second["tables"].values())
    with db_engine.connect() as conn:
        halted = conn.execute(
            text(
                "SELECT halted, close, change, volume FROM daily_prices "
                "WHERE ticker = '000020' AND date = '2026-02-10'"
            )
        ).one()
        assert tuple(halted) == (True, 9850, 0, 0)
        flow = conn.execute(
            text(
                "SELECT net_volume, net_value, source FROM investor_flows "
                "WHERE ticker = '005930' AND investor = 'foreign' AND date = '2026-02-10'"
            )
        ).one()
        assert tuple(flow) == (1_000_000, 72_000_000_000, "krx")


def test_sources_collect_yahoo_frames_into_the_database(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("yfinance")
    module.download = _yf_download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "yfinance", module)
    universe = pd.DataFrame({"ticker": ["005930"], "name": ["삼성전자"], "market": ["KOSPI"]})
    summary = collect(db_engine, YahooSource(universe), date(2026, 2, 9), date(2026, 2, 10))
    tables = summary["tables"]
    assert tables["daily_prices"]["inserted"] == 2 and tables["fx_rates"]["inserted"] == 2
    assert tables["index_prices"]["inserted"] == 2 * 10
    assert tables["investor_flows"]["skipped"]
    with db_engine.connect() as conn:
        rate = conn.execute(
            text("SELECT rate FROM fx_rates WHERE pair = 'USDKRW' AND date = '2026-02-10'")
        ).scalar_one()
        assert rate == pytest.approx(1438.25)
        kospi = conn.execute(
            text(
                "SELECT close, trading_value FROM index_prices "
                "WHERE code = 'KOSPI' AND date = '2026-02-10'"
            )
        ).one()
        assert kospi[0] == pytest.approx(2650.0) and kospi[1] is None
