"""The ``krx`` source: KRX data through pykrx (optional extra ``krstock[krx]``).

pykrx is imported inside the methods, never at module import: with KRX_ID/KRX_PW set,
``from pykrx import stock`` logs in to KRX at import time and fails offline. Every pykrx call
goes through one wrapper that first calls the shared rate-limit hook and turns any failure
(pykrx raises ``requests`` ConnectionError offline) into :class:`SourceError`.

The conversions from pykrx's Korean-column frames to the database columns are plain functions
(``convert_*``), testable without pykrx installed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from krstock.domain.calendar import krx_trading_dates
from krstock.marketdata.base import (
    FLOW_COLUMNS,
    INDEX_COLUMNS,
    KOSDAQ,
    KOSPI,
    KOSPI200,
    NEWS_COLUMNS,
    PRICE_COLUMNS,
    SECTOR_ETFS,
    STOCK_COLUMNS,
    SourceError,
)
from krstock.marketdata.ticks import round_to_tick

SOURCE = "krx"
# KRX index codes in pykrx (get_index_ohlcv): 1001 = KOSPI, 2001 = KOSDAQ.
INDEX_CODES = {KOSPI: "1001", KOSDAQ: "2001"}
# pykrx investor names -> our investor column.
INVESTORS = {"외국인": "foreign", "기관합계": "institution"}
# Columns of get_market_trading_volume/value_by_date (net buying per investor, by date).
BY_DATE_INVESTOR_COLUMNS = {"외국인합계": "foreign", "기관합계": "institution"}
# Above this many tickers, one market-wide call per day beats one call per ticker.
PER_TICKER_LIMIT = 40

_PREFERRED = re.compile(r"(\d?우[A-C]?|우\(전환\))$")


def _no_wait() -> None:
    """The default rate-limit hook: no waiting."""


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def name_flags(name: str) -> dict[str, bool]:
    """Stock-list flags KRX does not publish as columns, derived from the listed name."""
    return {
        "is_etf": False,
        "is_etn": "ETN" in name,
        "is_spac": "스팩" in name or "SPAC" in name.upper(),
        "is_reit": "리츠" in name,
        "is_preferred": bool(_PREFERRED.search(name)),
    }


# --------------------------------------------------------------------------- conversions


def finish_prices(rows: pd.DataFrame) -> pd.DataFrame:
    """PRICE_COLUMNS from converted rows carrying ``_pct`` (pykrx 등락률): halted flag, change
    and change_pct, sorted by (ticker, date)."""
    if rows.empty:
        return pd.DataFrame(columns=PRICE_COLUMNS)
    frame = rows.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    # pykrx shows a halted day as open/high/low 0 and volume 0 with the close carried over.
    frame["halted"] = (frame["volume"] == 0) & (frame["open"] == 0)
    prev = frame.groupby("ticker")["close"].shift(1).astype(float)
    # A ticker's first row has no previous close in the frame: derive it from 등락률.
    # 등락률 has 2 decimals, so snap the derived close to the KRX tick it must sit on.
    derived = pd.Series(
        round_to_tick((frame["close"] / (1 + frame["_pct"].astype(float) / 100.0)).to_numpy()),
        index=frame.index,
    )
    prev = prev.where(prev.notna(), derived)
    change = frame["close"] - prev
    frame["change"] = change.round().astype("Int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["change_pct"] = pd.array(np.round(change / prev * 100.0, 2), dtype="Float64")
    frame["source"] = SOURCE
    return frame[PRICE_COLUMNS]


def _ohlcv(raw: pd.DataFrame) -> dict[str, Any]:
    close = raw["종가"].astype("int64")
    volume = raw["거래량"].astype("int64")
    value = raw["거래대금"].astype("int64") if "거래대금" in raw else close * volume
    return {
        "open": raw["시가"].astype("int64").to_numpy(),
        "high": raw["고가"].astype("int64").to_numpy(),
        "low": raw["저가"].astype("int64").to_numpy(),
        "close": close.to_numpy(),
        "volume": volume.to_numpy(),
        "trading_value": value.to_numpy(),
        "_pct": raw["등락률"].to_numpy(dtype=float) if "등락률" in raw else np.nan,
    }


def market_ohlcv_rows(raw: pd.DataFrame, day: date) -> pd.DataFrame:
    """``stock.get_market_ohlcv(day, market=...)`` (index 티커) -> rows for finish_prices.

    On a day without trading (a holiday missing from the calendar) pykrx answers every ticker
    with zero prices instead of an empty frame: that is no data, not a market of zeros."""
    if raw.empty or (raw[["시가", "고가", "저가", "종가"]] == 0).all(axis=None):
        return pd.DataFrame()
    return pd.DataFrame({"ticker": raw.index.astype(str).str.zfill(6), "date": day, **_ohlcv(raw)})


def ticker_ohlcv_rows(raw: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """``stock.get_market_ohlcv(from, to, ticker)`` (index 날짜) -> rows for finish_prices."""
    if raw.empty:
        return pd.DataFrame()
    days = [d.date() for d in pd.to_datetime(raw.index)]
    return pd.DataFrame({"ticker": ticker, "date": days, **_ohlcv(raw)})


def convert_net_purchases(raw: pd.DataFrame, day: date, investor: str) -> pd.DataFrame:
    """``stock.get_market_net_purchases_of_equities(day, day, market, investor)`` (index 티커,
    순매수거래량 shares, 순매수거래대금 KRW) -> FLOW_COLUMNS rows."""
    if raw.empty:
        return pd.DataFrame(columns=FLOW_COLUMNS)
    return pd.DataFrame(
        {
            "ticker": raw.index.astype(str).str.zfill(6),
            "date": day,
            "investor": INVESTORS[investor],
            "net_volume": raw["순매수거래량"].astype("int64").to_numpy(),
            "net_value": raw["순매수거래대금"].astype("int64").to_numpy(),
            "source": SOURCE,
        }
    )[FLOW_COLUMNS]


def convert_trading_by_date(
    volumes: pd.DataFrame, values: pd.DataFrame, ticker: str
) -> pd.DataFrame:
    """``get_market_trading_volume_by_date`` (shares) and ``get_market_trading_value_by_date``
    (KRW) for one ticker (index 날짜; net buying per investor column) -> FLOW_COLUMNS rows."""
    parts = []
    for column, investor in BY_DATE_INVESTOR_COLUMNS.items():
        shares = volumes[column] if column in volumes else pd.Series(dtype="float64")
        krw = values[column] if column in values else pd.Series(dtype="float64")
        both = pd.concat({"net_volume": shares, "net_value": krw}, axis=1)
        if both.empty:
            continue
        parts.append(
            pd.DataFrame(
                {
                    "ticker": ticker,
                    "date": [d.date() for d in pd.to_datetime(both.index)],
                    "investor": investor,
                    "net_volume": both["net_volume"].round().astype("Int64").to_numpy(),
                    "net_value": both["net_value"].round().astype("Int64").to_numpy(),
                    "source": SOURCE,
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=FLOW_COLUMNS)
    return pd.concat(parts, ignore_index=True)[FLOW_COLUMNS]


def convert_index_ohlcv(raw: pd.DataFrame, code: str) -> pd.DataFrame:
    """``get_index_ohlcv`` / ``get_etf_ohlcv_by_date`` (index 날짜) -> INDEX_COLUMNS rows."""
    if raw.empty:
        return pd.DataFrame(columns=INDEX_COLUMNS)
    return pd.DataFrame(
        {
            "code": code,
            "date": [d.date() for d in pd.to_datetime(raw.index)],
            "open": raw["시가"].astype(float).to_numpy(),
            "high": raw["고가"].astype(float).to_numpy(),
            "low": raw["저가"].astype(float).to_numpy(),
            "close": raw["종가"].astype(float).to_numpy(),
            "volume": raw["거래량"].astype("int64").to_numpy(),
            "trading_value": (
                raw["거래대금"].astype("int64").to_numpy() if "거래대금" in raw else None
            ),
            "source": SOURCE,
        }
    )[INDEX_COLUMNS]


# --------------------------------------------------------------------------- the source


class KrxSource:
    """KRX through pykrx. ``rate_limit`` is called before every request (e.g. a shared token
    bucket's ``acquire``); ``as_of`` is the listing date for :meth:`stocks` (default: pykrx's
    nearest business day); a failed request is retried ``retries`` times (backoff ``backoff_s``
    doubling)."""

    name = SOURCE
    provides = frozenset({"stocks", "daily_prices", "investor_flows", "index_prices"})

    def __init__(
        self,
        rate_limit: Callable[[], object] | None = None,
        as_of: date | None = None,
        retries: int = 2,
        backoff_s: float = 1.0,
    ) -> None:
        if retries < 0 or backoff_s < 0:
            raise ValueError("retries and backoff_s must not be negative")
        self._rate_limit = rate_limit or _no_wait
        self._as_of = as_of
        self._retries = retries
        self._backoff_s = backoff_s
        self._stock_module: Any = None

    # ----------------------------------------------------------------- pykrx boundary

    def _stock(self) -> Any:
        if self._stock_module is None:
            try:
                from pykrx import stock  # lazy: pykrx may log in to KRX at import
            except ImportError as exc:
                raise SourceError("the krx source needs pykrx: pip install 'krstock[krx]'") from exc
            except Exception as exc:  # a login attempt at import fails offline
                raise SourceError(f"pykrx failed to import: {type(exc).__name__}: {exc}") from exc
            self._stock_module = stock
        return self._stock_module

    def _call(self, function: str, *args: Any, limited: bool = True, **kwargs: Any) -> Any:
        """Call ``pykrx.stock.<function>``; ``limited=False`` for lookups pykrx answers from its
        cached listing (no request, so no rate-limit token). Reads are safe to retry: a failure
        is retried ``retries`` times with exponential backoff, then becomes a SourceError."""
        stock = self._stock()
        attempts = self._retries + 1
        for attempt in range(attempts):
            if limited:
                self._rate_limit()
            try:
                return getattr(stock, function)(*args, **kwargs)
            except Exception as exc:
                if attempt + 1 == attempts:
                    raise SourceError(
                        f"pykrx {function}{args} failed after {attempts} attempt(s): "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                time.sleep(self._backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    @staticmethod
    def _days(start: date, end: date) -> list[date]:
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        return krx_trading_dates(start, end)

    # ----------------------------------------------------------------- interface

    def stocks(self) -> pd.DataFrame:
        # Without as_of, pykrx itself picks the nearest business day (today may be a holiday).
        day = _ymd(self._as_of) if self._as_of else None
        rows = []
        for market in (KOSPI, KOSDAQ):
            for ticker in self._call("get_market_ticker_list", day, market=market):
                name = str(self._call("get_market_ticker_name", ticker, limited=False))
                rows.append(
                    {
                        "ticker": str(ticker).zfill(6),
                        "name": name,
                        "market": market,
                        "sector": None,
                        "listing_status": "LISTED",
                        **name_flags(name),
                        "source": SOURCE,
                    }
                )
        if not rows:
            raise SourceError(f"pykrx listed no KOSPI/KOSDAQ tickers on {day or 'the last day'}")
        return pd.DataFrame(rows)[STOCK_COLUMNS]

    def daily_prices(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        days = self._days(start, end)
        parts: list[pd.DataFrame] = []
        if tickers is not None and len(tickers) <= PER_TICKER_LIMIT:
            for ticker in tickers:
                raw = self._call("get_market_ohlcv", _ymd(start), _ymd(end), ticker, adjusted=False)
                parts.append(ticker_ohlcv_rows(raw, ticker))
        else:
            for day in days:
                raw = self._call("get_market_ohlcv", _ymd(day), market="ALL")
                part = market_ohlcv_rows(raw, day)
                if tickers is not None and not part.empty:
                    part = part[part["ticker"].isin(tickers)]
                parts.append(part)
        frame = finish_prices(_concat(parts, None))
        if frame.empty and days:
            raise SourceError(f"pykrx returned no prices for {start}..{end}")
        return frame

    def investor_flows(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        days = self._days(start, end)
        parts: list[pd.DataFrame] = []
        if tickers is not None and len(tickers) <= PER_TICKER_LIMIT:
            for ticker in tickers:
                volumes = self._call(
                    "get_market_trading_volume_by_date", _ymd(start), _ymd(end), ticker
                )
                values = self._call(
                    "get_market_trading_value_by_date", _ymd(start), _ymd(end), ticker
                )
                parts.append(convert_trading_by_date(volumes, values, ticker))
        else:
            for day in days:
                for market in (KOSPI, KOSDAQ):
                    for investor in INVESTORS:
                        raw = self._call(
                            "get_market_net_purchases_of_equities",
                            _ymd(day),
                            _ymd(day),
                            market,
                            investor,
                        )
                        part = convert_net_purchases(raw, day, investor)
                        if tickers is not None:
                            part = part[part["ticker"].isin(tickers)]
                        parts.append(part)
        frame = _concat(parts, FLOW_COLUMNS)
        if frame.empty and days:
            raise SourceError(f"pykrx returned no investor flows for {start}..{end}")
        return frame.sort_values(["ticker", "date", "investor"], kind="stable").reset_index(
            drop=True
        )

    def index_prices(self, start: date, end: date) -> pd.DataFrame:
        self._days(start, end)
        parts = [
            convert_index_ohlcv(self._call("get_index_ohlcv", _ymd(start), _ymd(end), code), name)
            for name, code in INDEX_CODES.items()
        ]
        for code in (KOSPI200, *SECTOR_ETFS):
            raw = self._call("get_etf_ohlcv_by_date", _ymd(start), _ymd(end), code)
            parts.append(convert_index_ohlcv(raw, code))
        frame = _concat(parts, INDEX_COLUMNS)
        if frame.empty and krx_trading_dates(start, end):
            raise SourceError(f"pykrx returned no index or ETF rows for {start}..{end}")
        return frame

    def fx_rates(self, start: date, end: date) -> pd.DataFrame:
        raise SourceError("the krx source has no FX rates; collect USD/KRW with the yahoo source")

    def news(self, day: date, tickers: list[str]) -> pd.DataFrame:
        """KRX publishes no news: always empty (news comes from the AI news collectors)."""
        return pd.DataFrame(columns=NEWS_COLUMNS)


def _concat(parts: list[pd.DataFrame], columns: list[str] | None) -> pd.DataFrame:
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=columns or [])
    frame = pd.concat(parts, ignore_index=True)
    return frame if columns is None else frame[columns]
