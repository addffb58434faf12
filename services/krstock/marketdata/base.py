"""The one interface every market data source implements.

A source returns pandas DataFrames whose columns are the database columns
(see ``krstock.db.models``), so the bulk loader can write them as they are. Every frame
has a ``source`` column naming where its rows came from (sample, krx, yahoo, krx-csv, legacy).
"""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

import pandas as pd

# Columns of each frame, in order. Units: KRW for prices/values, shares for volumes.
STOCK_COLUMNS = [
    "ticker", "name", "market", "sector", "listing_status",
    "is_etf", "is_etn", "is_spac", "is_reit", "is_preferred", "source",
]  # fmt: skip
PRICE_COLUMNS = [
    "ticker", "date", "open", "high", "low", "close", "volume",
    "trading_value", "change", "change_pct", "halted", "source",
]  # fmt: skip
FLOW_COLUMNS = ["ticker", "date", "investor", "net_volume", "net_value", "source"]
INDEX_COLUMNS = [
    "code", "date", "open", "high", "low", "close", "volume", "trading_value", "source",
]  # fmt: skip
FX_COLUMNS = ["pair", "date", "rate", "source"]
NEWS_COLUMNS = ["ticker", "title", "url", "source", "summary", "published_at", "origin"]

# Index and sector-ETF codes the Market Gate reads (monolith.md §4.4).
KOSPI = "KOSPI"
KOSDAQ = "KOSDAQ"
KOSPI200 = "069500"  # KODEX 200, also the market-status proxy
SECTOR_ETFS = {
    "091160": "반도체",
    "305720": "2차전지",
    "091170": "자동차",
    "102780": "IT",
    "102960": "은행",
    "117680": "철강",
    "102970": "증권",
}
USDKRW = "USDKRW"


class SourceError(RuntimeError):
    """A source could not deliver (unreachable, empty answer, bad format); never silently empty."""


@runtime_checkable
class MarketDataSource(Protocol):
    """What collection needs from a source. Methods raise ``SourceError`` instead of returning
    an empty frame when the source has nothing for a range it should cover."""

    name: str

    def stocks(self) -> pd.DataFrame:
        """The universe (STOCK_COLUMNS)."""
        ...

    def daily_prices(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        """Daily OHLCV rows in [start, end] (PRICE_COLUMNS); halted days included, flagged."""
        ...

    def investor_flows(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        """Daily net buying per investor (FLOW_COLUMNS), shares and/or KRW."""
        ...

    def index_prices(self, start: date, end: date) -> pd.DataFrame:
        """KOSPI, KOSDAQ, KOSPI200 proxy and the sector ETFs (INDEX_COLUMNS)."""
        ...

    def fx_rates(self, start: date, end: date) -> pd.DataFrame:
        """USD/KRW (FX_COLUMNS)."""
        ...

    def news(self, day: date, tickers: list[str]) -> pd.DataFrame:
        """Headlines about ``tickers`` up to ``day`` (NEWS_COLUMNS); empty when there are none."""
        ...
