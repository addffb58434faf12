"""The pykrx adapter against a fake ``pykrx`` module that answers with recorded frames of the real
shape (Korean columns, 티커/날짜 indexes), plus the offline failure pykrx really shows."""

from __future__ import annotations

import subprocess
import sys
import types
from datetime import date
from typing import Any

import pandas as pd
import pytest

from krstock.marketdata.base import (
    FLOW_COLUMNS,
    INDEX_COLUMNS,
    KOSPI200,
    PRICE_COLUMNS,
    SECTOR_ETFS,
    STOCK_COLUMNS,
    SourceError,
)
from krstock.marketdata.krx import (
    KrxSource,
    finish_prices,
    market_ohlcv_rows,
    name_flags,
)

OHLCV_COLUMNS = ["시가", "고가", "저가", "종가", "거래량", "거래대금", "등락률"]


def _by_ticker(rows: dict[str, list[float]]) -> pd.DataFrame:
    """pykrx 1.2's get_market_ohlcv(day, market=...): the OHLCV columns plus 시가총액."""
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=OHLCV_COLUMNS)
    frame["시가총액"] = frame["종가"] * 5_969_782
    frame.index.name = "티커"
    return frame


# Recorded answers of stock.get_market_ohlcv(<day>, market="ALL"); 000020 is halted on the 10th.
MARKET_OHLCV = {
    "20260209": _by_ticker(
        {
            "005930": [70500, 71500, 70200, 71000, 14_100_000, 1_001_100_000_000, 0.71],
            "000020": [9_800, 9_900, 9_700, 9_850, 120_000, 1_180_000_000, -0.51],
            "035720": [40_000, 41_000, 39_800, 40_950, 2_000_000, 81_000_000_000, 2.5],
        }
    ),
    # A holiday missing from the calendar: pykrx answers zeros for every ticker.
    "20260211": _by_ticker(
        {
            "005930": [0, 0, 0, 0, 0, 0, 0.0],
            "000020": [0, 0, 0, 0, 0, 0, 0.0],
        }
    ),
    "20260210": _by_ticker(
        {
            "005930": [71000, 72500, 70800, 72000, 15_234_567, 1_096_888_824_000, 1.41],
            "000020": [0, 0, 0, 9_850, 0, 0, 0.0],
            "035720": [41_000, 41_200, 39_000, 39_500, 3_100_000, 122_000_000_000, -3.54],
        }
    ),
}


def _by_date(rows: list[list[float]], days: list[str], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, index=pd.DatetimeIndex(pd.to_datetime(days), name="날짜"))
    frame.columns = columns
    return frame


def _net_purchases(rows: dict[str, list[Any]]) -> pd.DataFrame:
    columns = [
        "종목명",
        "매도거래량",
        "매수거래량",
        "순매수거래량",
        "매도거래대금",
        "매수거래대금",
        "순매수거래대금",
    ]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    frame.index.name = "티커"
    return frame


class RequestsConnectionError(OSError):
    """What pykrx raises offline (requests.exceptions.ConnectionError is an OSError)."""


class FakeStock:
    """The ``pykrx.stock`` functions the adapter uses, answering recorded frames."""

    def __init__(self, offline: bool = False) -> None:
        self.offline = offline
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.offline:
            raise RequestsConnectionError(
                "HTTPConnectionPool(host='data.krx.co.kr', port=80): Max retries exceeded"
            )

    def get_market_ticker_list(self, day: str | None = None, market: str = "KOSPI") -> list[str]:
        self._record("get_market_ticker_list", day, market)
        return {"KOSPI": ["005930", "005935", "000020", "088980"], "KOSDAQ": ["035720", "440790"]}[
            market
        ]

    def get_market_ticker_name(self, ticker: str) -> str:
        self._record("get_market_ticker_name", ticker)
        return {
            "005930": "삼성전자",
            "005935": "삼성전자우",
            "000020": "동화약품",
            "088980": "맥쿼리인프라",
            "035720": "카카오",
            "440790": "한화플러스제4호스팩",
        }[ticker]

    def get_market_ohlcv(
        self, *args: Any, market: str = "KOSPI", adjusted: bool = True
    ) -> pd.DataFrame:
        self._record("get_market_ohlcv", *args)
        if len(args) == 1:
            return MARKET_OHLCV.get(args[0], pd.DataFrame(columns=OHLCV_COLUMNS))
        fromdate, todate, ticker = args
        assert not adjusted, "the adapter stores raw KRW prices"
        days = sorted(d for d in MARKET_OHLCV if fromdate <= d <= todate and d != "20260211")
        rows = [MARKET_OHLCV[d].loc[ticker, OHLCV_COLUMNS].tolist() for d in days]
        return _by_date(rows, days, OHLCV_COLUMNS)

    def get_market_net_purchases_of_equities(
        self, fromdate: str, todate: str, market: str, investor: str
    ) -> pd.DataFrame:
        self._record("get_market_net_purchases_of_equities", fromdate, todate, market, investor)
        if market != "KOSPI" or fromdate not in MARKET_OHLCV:
            return pd.DataFrame()
        sign = 1 if investor == "외국인" else -1
        return _net_purchases(
            {
                "005930": [
                    "삼성전자",
                    5_000_000,
                    6_000_000,
                    sign * 1_000_000,
                    3.5e11,
                    4.22e11,
                    sign * 72_000_000_000,
                ],
                "000020": ["동화약품", 100, 50, sign * -50, 985_000, 492_500, sign * -492_500],
            }
        )

    def get_market_trading_volume_by_date(
        self, fromdate: str, todate: str, ticker: str
    ) -> pd.DataFrame:
        self._record("get_market_trading_volume_by_date", fromdate, todate, ticker)
        return _by_date(
            [[-120_000, 3_000, -400_000, 517_000, 0], [80_000, -1_000, -79_000, 0, 0]],
            ["2026-02-09", "2026-02-10"],
            ["기관합계", "기타법인", "개인", "외국인합계", "전체"],
        )

    def get_market_trading_value_by_date(
        self, fromdate: str, todate: str, ticker: str
    ) -> pd.DataFrame:
        self._record("get_market_trading_value_by_date", fromdate, todate, ticker)
        return _by_date(
            [
                [-8_520_000_000, 213_000_000, -28_400_000_000, 36_707_000_000, 0],
                [5_760_000_000, -72_000_000, -5_688_000_000, 0, 0],
            ],
            ["2026-02-09", "2026-02-10"],
            ["기관합계", "기타법인", "개인", "외국인합계", "전체"],
        )

    def get_index_ohlcv(self, fromdate: str, todate: str, code: str) -> pd.DataFrame:
        self._record("get_index_ohlcv", fromdate, todate, code)
        level = {"1001": 2_650.12, "2001": 861.3}[code]
        return _by_date(
            [[level, level + 10, level - 12, level + 3.5, 412_345_678, 10_123_456_789_012, 2.1e15]],
            ["2026-02-10"],
            ["시가", "고가", "저가", "종가", "거래량", "거래대금", "상장시가총액"],
        )

    def get_etf_ohlcv_by_date(self, fromdate: str, todate: str, code: str) -> pd.DataFrame:
        self._record("get_etf_ohlcv_by_date", fromdate, todate, code)
        return _by_date(
            [[35_120.5, 35_000, 35_300, 34_900, 35_150, 5_123_456, 180_000_000_000, 354.2]],
            ["2026-02-10"],
            ["NAV", "시가", "고가", "저가", "종가", "거래량", "거래대금", "기초지수"],
        )


@pytest.fixture
def fake_stock(monkeypatch: pytest.MonkeyPatch) -> FakeStock:
    stock = FakeStock()
    package = types.ModuleType("pykrx")
    package.stock = stock  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pykrx", package)
    return stock


def test_sources_krx_module_import_does_not_import_pykrx() -> None:
    code = (
        "import sys, krstock.marketdata.krx, krstock.marketdata.registry;"
        "print('pykrx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sources_krx_market_wide_prices_with_a_halt(fake_stock: FakeStock) -> None:
    ticks: list[int] = []
    source = KrxSource(rate_limit=lambda: ticks.append(1))
    frame = source.daily_prices(date(2026, 2, 9), date(2026, 2, 11))
    assert list(frame.columns) == PRICE_COLUMNS
    assert len(frame) == 6 and set(frame["source"]) == {"krx"}
    samsung = frame[frame["ticker"] == "005930"].set_index("date")
    assert samsung.loc[date(2026, 2, 10), "change"] == 1_000  # 72,000 - 71,000 from the closes
    assert samsung.loc[date(2026, 2, 10), "change_pct"] == pytest.approx(1.41)
    assert samsung.loc[date(2026, 2, 9), "change"] == 500  # first day: from 등락률 0.71 %
    assert samsung.loc[date(2026, 2, 10), "trading_value"] == 1_096_888_824_000
    halted = frame[(frame["ticker"] == "000020") & (frame["date"] == date(2026, 2, 10))].iloc[0]
    assert (
        halted["halted"]
        and halted["volume"] == 0
        and halted["close"] == 9_850
        and halted["change"] == 0
    )
    assert not frame.loc[frame["volume"] > 0, "halted"].any()
    assert date(2026, 2, 11) not in set(frame["date"])  # the all-zero answer is no data
    assert len(ticks) == len(fake_stock.calls) == 3  # one market-wide call per trading day


def test_sources_krx_per_ticker_prices_match_the_market_wide_path(fake_stock: FakeStock) -> None:
    source = KrxSource()
    one = source.daily_prices(date(2026, 2, 9), date(2026, 2, 10), ["005930", "000020"])
    wide = source.daily_prices(date(2026, 2, 9), date(2026, 2, 10))
    wide = wide[wide["ticker"].isin(["005930", "000020"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(one, wide)
    assert [c[0] for c in fake_stock.calls[:2]] == ["get_market_ohlcv", "get_market_ohlcv"]


def test_sources_krx_flows_keep_shares_and_krw(fake_stock: FakeStock) -> None:
    source = KrxSource()
    wide = source.investor_flows(date(2026, 2, 10), date(2026, 2, 10))
    assert list(wide.columns) == FLOW_COLUMNS
    row = wide[(wide["ticker"] == "005930") & (wide["investor"] == "foreign")].iloc[0]
    assert (row["net_volume"], row["net_value"]) == (1_000_000, 72_000_000_000)
    inst = wide[(wide["ticker"] == "005930") & (wide["investor"] == "institution")].iloc[0]
    assert inst["net_volume"] == -1_000_000
    per_ticker = source.investor_flows(date(2026, 2, 9), date(2026, 2, 10), ["035720"])
    foreign = per_ticker[per_ticker["investor"] == "foreign"].set_index("date")
    assert foreign.loc[date(2026, 2, 9), "net_volume"] == 517_000
    assert foreign.loc[date(2026, 2, 9), "net_value"] == 36_707_000_000
    assert set(per_ticker["investor"]) == {"foreign", "institution"}


def test_sources_krx_index_and_etf_series(fake_stock: FakeStock) -> None:
    frame = KrxSource().index_prices(date(2026, 2, 10), date(2026, 2, 10))
    assert list(frame.columns) == INDEX_COLUMNS
    assert set(frame["code"]) == {"KOSPI", "KOSDAQ", KOSPI200, *SECTOR_ETFS}
    kospi = frame[frame["code"] == "KOSPI"].iloc[0]
    assert (
        kospi["close"] == pytest.approx(2_653.62) and kospi["trading_value"] == 10_123_456_789_012
    )
    assert frame[frame["code"] == KOSPI200].iloc[0]["close"] == 35_150


def test_sources_krx_stock_list_flags_come_from_names(fake_stock: FakeStock) -> None:
    ticks: list[int] = []
    stocks = KrxSource(as_of=date(2026, 2, 10), rate_limit=lambda: ticks.append(1)).stocks()
    assert len(ticks) == 2  # one listing request per market; names come from pykrx's cache
    stocks = stocks.set_index("ticker")
    assert list(stocks.reset_index().columns) == STOCK_COLUMNS
    assert stocks.loc["005935", "is_preferred"] and not stocks.loc["005930", "is_preferred"]
    assert stocks.loc["440790", "is_spac"] and stocks.loc["440790", "market"] == "KOSDAQ"
    assert name_flags("현대차2우B")["is_preferred"] and name_flags("신한알파리츠")["is_reit"]
    assert not name_flags("우리금융지주")["is_preferred"]
    assert ("get_market_ticker_list", ("20260210", "KOSPI")) in fake_stock.calls
    KrxSource().stocks()
    assert ("get_market_ticker_list", (None, "KOSDAQ")) in fake_stock.calls


def test_sources_krx_offline_becomes_source_error(monkeypatch: pytest.MonkeyPatch) -> None:
    stock = FakeStock(offline=True)
    package = types.ModuleType("pykrx")
    package.stock = stock  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pykrx", package)
    ticks: list[int] = []
    source = KrxSource(rate_limit=lambda: ticks.append(1), retries=2, backoff_s=0.0)
    with pytest.raises(SourceError, match=r"after 3 attempt.*RequestsConnectionError"):
        source.daily_prices(date(2026, 2, 9), date(2026, 2, 10))
    assert len(stock.calls) == 3 and len(ticks) == 3  # retried, each attempt rate-limited
    with pytest.raises(SourceError):
        source.stocks()
    with pytest.raises(ValueError):
        KrxSource(retries=-1)


def test_sources_krx_missing_pykrx_and_empty_answers(
    monkeypatch: pytest.MonkeyPatch, fake_stock: FakeStock
) -> None:
    with pytest.raises(SourceError, match="no prices"):
        KrxSource().daily_prices(date(2026, 3, 2), date(2026, 3, 3))  # nothing recorded there
    with pytest.raises(SourceError, match="FX"):
        KrxSource().fx_rates(date(2026, 2, 9), date(2026, 2, 10))
    assert KrxSource().news(date(2026, 2, 10), ["005930"]).empty
    monkeypatch.setitem(sys.modules, "pykrx", None)  # import pykrx -> ImportError
    with pytest.raises(SourceError, match="pip install"):
        KrxSource().daily_prices(date(2026, 2, 9), date(2026, 2, 10))


def test_sources_krx_conversion_without_pykrx() -> None:
    rows = market_ohlcv_rows(
        MARKET_OHLCV["20260210"].rename(index={"000020": 20}), date(2026, 2, 10)
    )
    frame = finish_prices(rows)
    assert "000020" in set(frame["ticker"])  # integer tickers are zero-padded
    assert finish_prices(market_ohlcv_rows(pd.DataFrame(), date(2026, 2, 10))).empty
