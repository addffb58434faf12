"""Intraday quotes from Yahoo (yfinance, an optional dependency): the last 1-minute close.

yfinance returns an empty frame offline instead of raising, so emptiness counts as a failure;
after one the source rests for five minutes rather than slowing every request down.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from krstock.marketdata.yahoo import yahoo_symbol

log = logging.getLogger("krstock.marketdata.quotes")
REST_AFTER_FAILURE_S = 300.0


def quote_symbol(ticker: str, market: str, explicit: str | None) -> str:
    """The stock's own Yahoo symbol when it has one, else ``<ticker>.KQ``/``.KS`` by market."""
    return explicit or yahoo_symbol(ticker, market)


class YahooQuotes:
    """Last 1-minute close per ticker; unavailable while resting after a failure."""

    def __init__(self) -> None:
        self.failed_at = -1e18

    def available(self) -> bool:
        if time.monotonic() - self.failed_at < REST_AFTER_FAILURE_S:
            return False
        try:
            import yfinance  # noqa: F401
        except ImportError:
            return False
        return True

    def fetch(self, symbols: dict[str, str]) -> dict[str, float]:
        """ticker → last positive close, for ``symbols`` (ticker → Yahoo symbol)."""
        import yfinance as yf

        try:
            frame: Any = yf.download(
                list(symbols.values()),
                period="1d",
                interval="1m",
                progress=False,
                threads=False,
                timeout=3,
            )
        except Exception as exc:
            self.failed_at = time.monotonic()
            log.info("yfinance unavailable: %s", exc)
            return {}
        if frame is None or frame.empty:
            self.failed_at = time.monotonic()
            return {}
        return _last_closes(frame["Close"], symbols)


def _last_closes(closes: Any, symbols: dict[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for ticker, symbol in symbols.items():
        try:
            series = closes[symbol] if hasattr(closes, "columns") else closes
            value = float(series.dropna().iloc[-1])
        except (KeyError, IndexError, ValueError):
            continue
        if value > 0:
            out[ticker] = value
    return out
