"""The yfinance adapter against a fake ``yfinance`` module whose ``download`` answers recorded
frames of the real shape (MultiIndex (Price, Ticker) columns) — and, like the real one offline,
an empty frame without raising."""

from __future__ import annotations

import subprocess
import sys
import types
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from krstock.marketdata.base import FX_COLUMNS, INDEX_COLUMNS, KOSPI200, PRICE_COLUMNS, SourceError
from krstock.marketdata.yahoo import YahooSource, convert_prices, split_download, yahoo_symbol

DAYS = pd.DatetimeIndex(["2026-02-09", "2026-02-10", "2026-02-11"], name="Date")
PRICES = {
    "005930.KS": [
        [70500, 71500, 70200, 71000, 14_100_000],
        [71000, 72500, 70800, 72000, 15_234_567],
        [72000, 72100, 71000, 71500, 9_000_000],
    ],
    "035720.KQ": [
        [40000, 41000, 39800, 40950, 2_000_000],
        [40950, 40950, 40950, 40950, 0],
        [41000, 41500, 40500, 41200, 1_500_000],
    ],
    "^KS11": [
        [2640.1, 2660.0, 2630.5, 2653.62, 412_345_600],
        [2653.6, 2670.2, 2650.0, 2668.9, 400_000_000],
        [2668.9, 2675.0, 2655.0, 2660.0, 390_000_000],
    ],
    "KRW=X": [
        [1432.1, 1440.0, 1430.0, 1438.25, 0],
        [1438.3, 1441.0, 1433.0, 1435.5, 0],
        [1435.5, 1436.0, 1420.0, 1422.75, 0],
    ],
}


def recorded_download(symbols: list[str]) -> pd.DataFrame:
    """What yfinance ≥ 0.2.5x returns: columns (Price, Ticker), Adj Close included, NaN rows for
    symbols without data on a day; unknown symbols are all-NaN columns."""
    blocks = {}
    for symbol in symbols:
        rows = PRICES.get(symbol)
        values = np.array(rows, dtype=float) if rows else np.full((len(DAYS), 5), np.nan)
        frame = pd.DataFrame(values, index=DAYS, columns=["Open", "High", "Low", "Close", "Volume"])
        frame["Adj Close"] = frame["Close"] * 0.98
        blocks[symbol] = frame[["Adj Close", "Close", "High", "Low", "Open", "Volume"]]
    wide = pd.concat(blocks, axis=1)  # (Ticker, Price)
    wide = wide.swaplevel(0, 1, axis=1).sort_index(axis=1, level=0)
    wide.columns.names = ["Price", "Ticker"]
    return wide


class FakeYf:
    def __init__(self, mode: str = "recorded") -> None:
        self.mode = mode
        self.calls: list[dict[str, Any]] = []

    def download(self, tickers: list[str], **kwargs: Any) -> pd.DataFrame:
        self.calls.append({"tickers": list(tickers), **kwargs})
        if self.mode == "offline":
            return pd.DataFrame()  # yfinance logs "Failed to get ticker" and returns empty
        if self.mode == "raise":
            raise ConnectionError("Failed to resolve 'query2.finance.yahoo.com'")
        return recorded_download(list(tickers))


@pytest.fixture
def fake_yf(monkeypatch: pytest.MonkeyPatch) -> FakeYf:
    fake = FakeYf()
    module = types.ModuleType("yfinance")
    module.download = fake.download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "yfinance", module)
    return fake


UNIVERSE = pd.DataFrame(
    {"ticker": ["005930", "035720"], "name": ["삼성전자", "카카오"], "market": ["KOSPI", "KOSDAQ"]}
)


def test_sources_yahoo_module_import_does_not_import_yfinance() -> None:
    code = "import sys, krstock.marketdata.yahoo; print('yfinance' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sources_yahoo_symbols() -> None:
    assert yahoo_symbol("005930") == "005930.KS"
    assert yahoo_symbol("035720", "KOSDAQ") == "035720.KQ"
    assert YahooSource(UNIVERSE).symbol_for("035720") == "035720.KQ"
    assert (
        YahooSource(UNIVERSE, symbols={"005930": "005930.KQ"}).symbol_for("005930") == "005930.KQ"
    )


def test_sources_yahoo_prices_from_a_recorded_download(fake_yf: FakeYf) -> None:
    ticks: list[int] = []
    source = YahooSource(UNIVERSE, rate_limit=lambda: ticks.append(1))
    frame = source.daily_prices(date(2026, 2, 9), date(2026, 2, 11))
    assert list(frame.columns) == PRICE_COLUMNS and set(frame["source"]) == {"yahoo"}
    assert fake_yf.calls[0]["tickers"] == ["005930.KS", "035720.KQ"]
    assert fake_yf.calls[0]["end"] == "2026-02-12"  # exclusive end
    assert fake_yf.calls[0]["auto_adjust"] is False and ticks == [1]
    samsung = frame[frame["ticker"] == "005930"].set_index("date")
    assert samsung.loc[date(2026, 2, 10), "close"] == 72_000  # raw close, not Adj Close
    assert samsung.loc[date(2026, 2, 10), "change"] == 1_000
    assert samsung.loc[date(2026, 2, 10), "trading_value"] == 72_000 * 15_234_567
    assert pd.isna(samsung.loc[date(2026, 2, 9), "change"])
    kakao = frame[frame["ticker"] == "035720"].set_index("date")
    halted = kakao.loc[date(2026, 2, 10)]
    assert halted["halted"] and halted["open"] == 0 and halted["close"] == 40_950
    assert frame["close"].dtype == np.int64


def test_sources_yahoo_index_and_fx(fake_yf: FakeYf) -> None:
    source = YahooSource()
    index = source.index_prices(date(2026, 2, 9), date(2026, 2, 11))
    assert list(index.columns) == INDEX_COLUMNS
    assert set(index["code"]) == {"KOSPI"}  # only ^KS11 is recorded; the others come back empty
    assert index["close"].iloc[0] == pytest.approx(2653.62)
    requested = fake_yf.calls[0]["tickers"]
    assert {"^KS11", "^KQ11", f"{KOSPI200}.KS", "091160.KS"} <= set(requested)
    fx = source.fx_rates(date(2026, 2, 9), date(2026, 2, 11))
    assert list(fx.columns) == FX_COLUMNS and set(fx["pair"]) == {"USDKRW"}
    assert fx["rate"].tolist() == [1438.25, 1435.5, 1422.75]


def test_sources_yahoo_empty_answer_raises_source_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for mode, message in (("offline", "returned nothing"), ("raise", "ConnectionError")):
        fake = FakeYf(mode)
        module = types.ModuleType("yfinance")
        module.download = fake.download  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "yfinance", module)
        with pytest.raises(SourceError, match=message):
            YahooSource(UNIVERSE).daily_prices(date(2026, 2, 9), date(2026, 2, 11))
        with pytest.raises(SourceError):
            YahooSource().fx_rates(date(2026, 2, 9), date(2026, 2, 11))


def test_sources_yahoo_unknown_symbols_only_raise(fake_yf: FakeYf) -> None:
    with pytest.raises(SourceError, match="no rows"):
        YahooSource().daily_prices(date(2026, 2, 9), date(2026, 2, 11), ["999990"])


def test_sources_yahoo_what_yahoo_does_not_have(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SourceError, match="investor flows"):
        YahooSource(UNIVERSE).investor_flows(date(2026, 2, 9), date(2026, 2, 11))
    with pytest.raises(SourceError, match="stock list"):
        YahooSource().stocks()
    stocks = YahooSource(UNIVERSE).stocks()
    assert stocks["source"].unique().tolist() == ["yahoo"] and not stocks["is_etf"].any()
    with_pref = pd.concat(
        [
            UNIVERSE,
            pd.DataFrame({"ticker": ["005935"], "name": ["삼성전자우"], "market": ["KOSPI"]}),
        ]
    )
    flags = YahooSource(with_pref).stocks().set_index("ticker")["is_preferred"]
    assert flags.to_dict() == {"005930": False, "035720": False, "005935": True}
    with pytest.raises(ValueError, match="lacks columns"):
        YahooSource(pd.DataFrame({"ticker": ["005930"]}))
    monkeypatch.setitem(sys.modules, "yfinance", None)
    with pytest.raises(SourceError, match="pip install"):
        YahooSource(UNIVERSE).daily_prices(date(2026, 2, 9), date(2026, 2, 11))


def test_sources_yahoo_flat_and_grouped_layouts() -> None:
    wide = recorded_download(["005930.KS", "035720.KQ"])
    grouped = wide.swaplevel(0, 1, axis=1)  # group_by="ticker"
    for layout in (wide, grouped):
        parts = split_download(layout, ["005930.KS", "035720.KQ"])
        assert set(parts) == {"005930.KS", "035720.KQ"}
    flat = wide.xs("005930.KS", axis=1, level="Ticker")
    parts = split_download(flat, ["005930.KS"])
    frame = convert_prices(parts["005930.KS"], "005930")
    assert frame["close"].tolist() == [71_000, 72_000, 71_500]
    assert split_download(pd.DataFrame(), ["005930.KS"]) == {}
