"""Current prices for /realtime-prices and the open-signal refresh: best source available.

Order: Redis (1-minute TTL) → yfinance 1-minute bars when installed, enabled and reachable → the
latest daily bar in the database. yfinance returns an empty frame offline instead of raising,
so emptiness counts as a failure, and after one the source rests for five minutes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from krstock.api import queries
from krstock.api.cache import JsonCache

log = logging.getLogger("krstock.api.prices")
_YAHOO_REST_S = 300.0


@dataclass
class PriceQuote:
    price: float
    source: str  # "yfinance" or "db"
    as_of: str


class YahooQuotes:
    """Last 1-minute close per ticker from yfinance (the internet edge; optional dependency)."""

    def __init__(self) -> None:
        self.failed_at = -1e18

    def available(self) -> bool:
        if time.monotonic() - self.failed_at < _YAHOO_REST_S:
            return False
        try:
            import yfinance  # noqa: F401
        except ImportError:
            return False
        return True

    def fetch(self, symbols: dict[str, str]) -> dict[str, float]:
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
        out: dict[str, float] = {}
        closes = frame["Close"]
        for ticker, symbol in symbols.items():
            try:
                series = closes[symbol] if hasattr(closes, "columns") else closes
                value = float(series.dropna().iloc[-1])
            except (KeyError, IndexError, ValueError):
                continue
            if value > 0:
                out[ticker] = value
        return out


_yahoo = YahooQuotes()


def yahoo_symbol(ticker: str, market: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    return f"{ticker}.KQ" if market == "KOSDAQ" else f"{ticker}.KS"


def current_prices(
    session: Session, cache: JsonCache, tickers: list[str], ttl_s: int, mode: str = "auto"
) -> dict[str, PriceQuote]:
    """Positive prices for the tickers that have one; unknown tickers are simply absent."""
    wanted = list(dict.fromkeys(tickers))
    quotes: dict[str, PriceQuote] = {}
    missing: list[str] = []
    for ticker, cached in zip(wanted, cache.get_many("prices", wanted), strict=True):
        if cached is not None:
            data = orjson.loads(cached)
            quotes[ticker] = PriceQuote(float(data["price"]), data["source"], data["as_of"])
        else:
            missing.append(ticker)
    if not missing:
        return quotes
    fresh: dict[str, PriceQuote] = {}
    if mode in ("auto", "yfinance") and _yahoo.available():
        from sqlalchemy import select

        from krstock.db.models import Stock

        rows = session.execute(
            select(Stock.ticker, Stock.market, Stock.yahoo_symbol).where(Stock.ticker.in_(missing))
        )
        symbols = {r.ticker: yahoo_symbol(r.ticker, r.market, r.yahoo_symbol) for r in rows}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        for ticker, price in _yahoo.fetch(symbols).items():
            fresh[ticker] = PriceQuote(price, "yfinance", stamp)
    rest = [t for t in missing if t not in fresh]
    for ticker, (close, day) in queries.latest_closes(session, rest).items():
        fresh[ticker] = PriceQuote(close, "db", day.isoformat())
    for ticker, quote in fresh.items():
        body = orjson.dumps({"price": quote.price, "source": quote.source, "as_of": quote.as_of})
        cache.set("prices", ticker, body, ttl_s)
    quotes.update(fresh)
    return quotes


def refresh_open_signals(engine: Any, cache: JsonCache, ttl_s: int = 60, mode: str = "auto") -> int:
    """Mark every OPEN signal to market (current_price, return_pct) from the best price source.

    The monolith's 5-minute refresher (§4.8) as one set-based pass: a price lookup for all open
    tickers, then one bulk UPDATE (by primary key) of the rows that changed. Returns how many
    rows were updated.
    """
    from sqlalchemy import select, update
    from sqlalchemy.orm import Session

    from krstock.db.models import Signal

    with Session(engine) as session:
        rows = session.execute(
            select(Signal.id, Signal.ticker, Signal.entry_price, Signal.current_price).where(
                Signal.status == "OPEN"
            )
        ).all()
        quotes = current_prices(session, cache, [r.ticker for r in rows], ttl_s, mode)
        updates = [
            {
                "id": row.id,
                "current_price": quote.price,
                "return_pct": round((quote.price - row.entry_price) / row.entry_price * 100, 2),
            }
            for row in rows
            if (quote := quotes.get(row.ticker)) is not None
            and row.entry_price
            and row.current_price != quote.price
        ]
        if updates:
            session.execute(update(Signal), updates)
        session.commit()
    changed = len(updates)
    if changed:
        cache.invalidate("signals")
    return changed
