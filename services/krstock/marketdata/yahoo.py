"""The ``yahoo`` source: daily prices, indices, sector ETFs and USD/KRW through yfinance
(optional extra ``krstock[krx]``), imported lazily inside the methods.

yfinance does not raise offline from ``yf.download``: it logs and returns an EMPTY frame. This
adapter checks every answer and raises :class:`SourceError` when nothing came back.
Symbols: ``<ticker>.KS`` (KOSPI, the default) or ``<ticker>.KQ`` (KOSDAQ), ``^KS11``/``^KQ11``
for the indices, ``KRW=X`` for USD/KRW. Yahoo has no KRX listing and no investor flows: the
universe comes from the caller (``universe=`` frame with ticker, name, market).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta

import numpy as np
import pandas as pd

from krstock.marketdata.base import (
    FX_COLUMNS,
    INDEX_COLUMNS,
    KOSDAQ,
    KOSPI,
    KOSPI200,
    NEWS_COLUMNS,
    PRICE_COLUMNS,
    SECTOR_ETFS,
    STOCK_COLUMNS,
    USDKRW,
    SourceError,
)
from krstock.marketdata.krx import name_flags

SOURCE = "yahoo"
INDEX_SYMBOLS = {KOSPI: "^KS11", KOSDAQ: "^KQ11"}
FX_SYMBOLS = {USDKRW: "KRW=X"}
FIELDS = ("Open", "High", "Low", "Close", "Volume")
BATCH = 50  # symbols per download request


def _no_wait() -> None:
    """The default rate-limit hook: no waiting."""


def yahoo_symbol(ticker: str, market: str | None = None) -> str:
    """``005930`` -> ``005930.KS``; a KOSDAQ ticker -> ``.KQ``."""
    return f"{ticker}.KQ" if market == KOSDAQ else f"{ticker}.KS"


def split_download(raw: pd.DataFrame, symbols: list[str]) -> dict[str, pd.DataFrame]:
    """One OHLCV frame per symbol from a ``yf.download`` answer.

    yfinance returns MultiIndex columns (Price, Ticker) — or (Ticker, Price) with
    ``group_by="ticker"`` — and flat columns for a single symbol in older versions. Rows where a
    symbol has no close are dropped; symbols without any row are left out.
    """
    out: dict[str, pd.DataFrame] = {}
    if raw is None or raw.empty:
        return out
    if isinstance(raw.columns, pd.MultiIndex):
        field_level = 0 if "Close" in raw.columns.get_level_values(0) else 1
        symbol_level = 1 - field_level
        present = set(raw.columns.get_level_values(symbol_level))
        for symbol in symbols:
            if symbol not in present:
                continue
            part = raw.xs(symbol, axis=1, level=symbol_level)
            if not isinstance(part, pd.DataFrame):
                continue
            part = part.dropna(subset=["Close"])
            if not part.empty:
                out[symbol] = part
    elif len(symbols) == 1 and "Close" in raw.columns:
        part = raw.dropna(subset=["Close"])
        if not part.empty:
            out[symbols[0]] = part
    return out


def _dates(index: pd.Index) -> list[date]:
    stamps = pd.to_datetime(index)
    if getattr(stamps, "tz", None) is not None:
        stamps = stamps.tz_localize(None)
    return [d.date() for d in stamps]


def convert_prices(part: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """One symbol's OHLCV -> PRICE_COLUMNS. KRW prices are whole won; a zero-volume day is a
    halt (Yahoo repeats the close): open/high/low become 0 as in the KRX data."""
    close = part["Close"].to_numpy(dtype=float).round()
    volume = part["Volume"].fillna(0).to_numpy(dtype=float).round()
    halted = volume == 0
    frame = pd.DataFrame(
        {
            "ticker": ticker,
            "date": _dates(part.index),
            "open": np.where(halted, 0, part["Open"].to_numpy(dtype=float).round()),
            "high": np.where(halted, 0, part["High"].to_numpy(dtype=float).round()),
            "low": np.where(halted, 0, part["Low"].to_numpy(dtype=float).round()),
            "close": close,
            "volume": volume,
            "trading_value": (close * volume).round(),
            "halted": halted,
        }
    )
    for column in ("open", "high", "low", "close", "volume", "trading_value"):
        frame[column] = frame[column].astype("int64")
    prev = frame["close"].shift(1).astype(float)
    frame["change"] = (frame["close"] - prev).round().astype("Int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["change_pct"] = pd.array(
            np.round((frame["close"] - prev) / prev * 100.0, 2), dtype="Float64"
        )
    frame["source"] = SOURCE
    return frame[PRICE_COLUMNS]


def convert_index(part: pd.DataFrame, code: str) -> pd.DataFrame:
    """One index/ETF symbol -> INDEX_COLUMNS (levels as floats, no trading value)."""
    volume = part["Volume"].fillna(0).to_numpy(dtype=float).round().astype("int64")
    return pd.DataFrame(
        {
            "code": code,
            "date": _dates(part.index),
            "open": part["Open"].to_numpy(dtype=float),
            "high": part["High"].to_numpy(dtype=float),
            "low": part["Low"].to_numpy(dtype=float),
            "close": part["Close"].to_numpy(dtype=float),
            "volume": volume,
            "trading_value": None,
            "source": SOURCE,
        }
    )[INDEX_COLUMNS]


def convert_fx(part: pd.DataFrame, pair: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pair": pair,
            "date": _dates(part.index),
            "rate": part["Close"].to_numpy(dtype=float).round(4),
            "source": SOURCE,
        }
    )[FX_COLUMNS]


class YahooSource:
    """Yahoo Finance through yfinance. ``universe``: a frame with ticker, name, market (the
    stock list comes from elsewhere); ``rate_limit`` is called before every request."""

    name = SOURCE
    provides = frozenset({"stocks", "daily_prices", "index_prices", "fx_rates"})

    def __init__(
        self,
        universe: pd.DataFrame | None = None,
        rate_limit: Callable[[], object] | None = None,
        symbols: dict[str, str] | None = None,
    ) -> None:
        self._universe = universe
        self._rate_limit = rate_limit or _no_wait
        markets: dict[str, str] = {}
        if universe is not None:
            missing = {"ticker", "name", "market"} - set(universe.columns)
            if missing:
                raise ValueError(f"universe frame lacks columns {sorted(missing)}")
            markets = dict(zip(universe["ticker"], universe["market"], strict=True))
        self._markets = markets
        self._symbols = dict(symbols or {})

    # ----------------------------------------------------------------- yfinance boundary

    def _download(self, symbols: list[str], start: date, end: date) -> dict[str, pd.DataFrame]:
        try:
            import yfinance as yf  # lazy: optional dependency
        except ImportError as exc:
            raise SourceError(
                "the yahoo source needs yfinance: pip install 'krstock[krx]'"
            ) from exc
        out: dict[str, pd.DataFrame] = {}
        for first in range(0, len(symbols), BATCH):
            batch = symbols[first : first + BATCH]
            self._rate_limit()
            try:
                raw = yf.download(
                    batch,
                    start=start.isoformat(),
                    end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                    auto_adjust=False,
                    actions=False,
                    progress=False,
                    threads=False,
                    group_by="column",
                )
            except Exception as exc:
                raise SourceError(
                    f"yfinance download of {batch[:3]}... failed: {type(exc).__name__}: {exc}"
                ) from exc
            # Offline or unknown symbols: yfinance only logs and returns an empty frame.
            if raw is None or raw.empty:
                raise SourceError(
                    f"yfinance returned nothing for {len(batch)} symbols ({batch[:3]}...) "
                    f"in {start}..{end} (offline, or unknown symbols)"
                )
            out.update(split_download(raw, batch))
        if not out:
            raise SourceError(f"yfinance returned no rows for {symbols[:3]}... in {start}..{end}")
        return out

    def symbol_for(self, ticker: str) -> str:
        return self._symbols.get(ticker) or yahoo_symbol(ticker, self._markets.get(ticker))

    # ----------------------------------------------------------------- interface

    def stocks(self) -> pd.DataFrame:
        if self._universe is None:
            raise SourceError("Yahoo has no KRX stock list; give the yahoo source a universe frame")
        frame = self._universe.copy()
        for column, value in (("sector", None), ("listing_status", "LISTED")):
            if column not in frame:
                frame[column] = value
        # Flags the universe frame does not carry are read from the names, as for KRX.
        derived = pd.DataFrame([name_flags(str(n)) for n in frame["name"]], index=frame.index)
        for column in derived.columns:
            if column not in frame:
                frame[column] = derived[column]
        frame["source"] = SOURCE
        return frame[STOCK_COLUMNS].reset_index(drop=True)

    def daily_prices(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        tickers = self._tickers(tickers)
        by_symbol = {self.symbol_for(t): t for t in tickers}
        parts = self._download(list(by_symbol), start, end)
        frames = [convert_prices(part, by_symbol[symbol]) for symbol, part in parts.items()]
        return pd.concat(frames, ignore_index=True)[PRICE_COLUMNS]

    def investor_flows(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        raise SourceError("Yahoo has no investor flows; use the krx source")

    def index_prices(self, start: date, end: date) -> pd.DataFrame:
        codes = {**{s: c for c, s in INDEX_SYMBOLS.items()}}
        codes.update({yahoo_symbol(code): code for code in (KOSPI200, *SECTOR_ETFS)})
        parts = self._download(list(codes), start, end)
        frames = [convert_index(part, codes[symbol]) for symbol, part in parts.items()]
        return pd.concat(frames, ignore_index=True)[INDEX_COLUMNS]

    def fx_rates(self, start: date, end: date) -> pd.DataFrame:
        parts = self._download(list(FX_SYMBOLS.values()), start, end)
        pairs = {s: p for p, s in FX_SYMBOLS.items()}
        return pd.concat(
            [convert_fx(part, pairs[symbol]) for symbol, part in parts.items()], ignore_index=True
        )[FX_COLUMNS]

    def news(self, day: date, tickers: list[str]) -> pd.DataFrame:
        """Not collected from Yahoo (news comes from the AI news collectors): always empty."""
        return pd.DataFrame(columns=NEWS_COLUMNS)

    def _tickers(self, tickers: Iterable[str] | None) -> list[str]:
        if tickers is not None:
            return list(tickers)
        if self._universe is None:
            raise SourceError("the yahoo source needs tickers (or a universe frame)")
        return list(self._universe["ticker"])
