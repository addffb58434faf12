"""Current prices, and marking every OPEN signal to market with them.

Order: the cache (1-minute TTL) → yfinance 1-minute bars when installed, enabled and reachable →
the latest daily bar in the database. The API's ``/realtime-prices`` routes and the worker's
5-minute refresher (``refresh_open_signals``) share this one path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import orjson
from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from krstock.db.models import DailyPrice, Signal, Stock
from krstock.marketdata.quotes import YahooQuotes, quote_symbol

PRICES = "prices"  # the cache group of quotes
SIGNALS = "signals"  # the cache group a price change makes stale

_yahoo = YahooQuotes()


class PriceCache(Protocol):
    """What the price path needs of a cache (the API's ``JsonCache`` is one)."""

    def get_many(self, group: str, keys: list[str]) -> list[bytes | None]: ...

    def set(self, group: str, key: str, body: bytes, ttl_s: int) -> None: ...

    def invalidate(self, *groups: str) -> int: ...


@dataclass
class PriceQuote:
    price: float
    source: str  # "yfinance" or "db"
    as_of: str  # a date (db) or a timestamp (yfinance), ISO

    @property
    def day(self) -> date:
        return date.fromisoformat(self.as_of[:10])


PRICE_MISSING_REASON = "no price on or after the signal date (collect or import newer prices)"


@dataclass(frozen=True)
class Mark:
    """A signal marked to market, or not: ``price_status`` says which."""

    current_price: float | None
    return_pct: float | None
    price_status: str  # "ok" | "missing"
    price_as_of: str | None = None

    def fields(self) -> dict[str, object]:
        body: dict[str, object] = {
            "current_price": self.current_price,
            "return_pct": self.return_pct,
            "price_status": self.price_status,
            "price_as_of": self.price_as_of,
        }
        if self.price_status == "missing":
            body["price_reason"] = PRICE_MISSING_REASON
        return body


UNPRICED = Mark(None, None, "missing")


def mark_to_market(entry_price: float | None, signal_date: date, quote: PriceQuote | None) -> Mark:
    """The one rule for valuing a signal: a price older than the signal never values it (a
    migrated 2026 signal is not valued at a 2025 close)."""
    if quote is None or not entry_price or entry_price <= 0 or quote.day < signal_date:
        return UNPRICED
    pct = round((quote.price - entry_price) / entry_price * 100, 2)
    return Mark(quote.price, pct, "ok", quote.as_of)


def latest_closes(session: Session, tickers: list[str]) -> dict[str, tuple[float, date]]:
    """ticker → (last close, its date): one DISTINCT ON over the (ticker, date) primary key."""
    if not tickers:
        return {}
    rows = session.execute(
        select(DailyPrice.ticker, DailyPrice.close, DailyPrice.date)
        .where(DailyPrice.ticker.in_(set(tickers)), DailyPrice.close > 0)
        .order_by(DailyPrice.ticker, DailyPrice.date.desc())
        .ext(distinct_on(DailyPrice.ticker))
    )
    return {r.ticker: (float(r.close), r.date) for r in rows}


def current_prices(
    session: Session, cache: PriceCache, tickers: list[str], ttl_s: int, mode: str = "auto"
) -> dict[str, PriceQuote]:
    """Positive prices for the tickers that have one; unknown tickers are simply absent."""
    wanted = list(dict.fromkeys(tickers))
    quotes = _cached_quotes(cache, wanted)
    missing = [t for t in wanted if t not in quotes]
    if not missing:
        return quotes
    fresh: dict[str, PriceQuote] = {}
    if mode in ("auto", "yfinance") and _yahoo.available():
        fresh.update(_yahoo_quotes(session, missing))
    rest = [t for t in missing if t not in fresh]
    for ticker, (close, day) in latest_closes(session, rest).items():
        fresh[ticker] = PriceQuote(close, "db", day.isoformat())
    for ticker, quote in fresh.items():
        body = orjson.dumps({"price": quote.price, "source": quote.source, "as_of": quote.as_of})
        cache.set(PRICES, ticker, body, ttl_s)
    quotes.update(fresh)
    return quotes


def _cached_quotes(cache: PriceCache, tickers: list[str]) -> dict[str, PriceQuote]:
    quotes: dict[str, PriceQuote] = {}
    for ticker, cached in zip(tickers, cache.get_many(PRICES, tickers), strict=True):
        if cached is not None:
            data = orjson.loads(cached)
            quotes[ticker] = PriceQuote(float(data["price"]), data["source"], data["as_of"])
    return quotes


def _yahoo_quotes(session: Session, tickers: list[str]) -> dict[str, PriceQuote]:
    rows = session.execute(
        select(Stock.ticker, Stock.market, Stock.yahoo_symbol).where(Stock.ticker.in_(tickers))
    )
    symbols = {r.ticker: quote_symbol(r.ticker, r.market, r.yahoo_symbol) for r in rows}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    return {t: PriceQuote(price, "yfinance", stamp) for t, price in _yahoo.fetch(symbols).items()}


def refresh_open_signals(
    engine: Engine, cache: PriceCache, ttl_s: int = 60, mode: str = "auto"
) -> int:
    """Mark every OPEN signal to market (current_price, return_pct) from the best price source.

    The monolith's 5-minute refresher (§4.8) as one set-based pass: a price lookup for all open
    tickers, then one bulk UPDATE (by primary key) of the rows that changed. A signal without a
    price on or after its date gets NULLs (``mark_to_market``). Returns how many rows changed.
    """
    with Session(engine) as session:
        rows = session.execute(
            select(
                Signal.id,
                Signal.ticker,
                Signal.signal_date,
                Signal.entry_price,
                Signal.current_price,
                Signal.return_pct,
            ).where(Signal.status == "OPEN")
        ).all()
        quotes = current_prices(session, cache, [r.ticker for r in rows], ttl_s, mode)
        updates = []
        for row in rows:
            mark = mark_to_market(row.entry_price, row.signal_date, quotes.get(row.ticker))
            if (row.current_price, row.return_pct) != (mark.current_price, mark.return_pct):
                values = {"current_price": mark.current_price, "return_pct": mark.return_pct}
                updates.append({"id": row.id, **values})
        if updates:
            session.execute(update(Signal), updates)
        session.commit()
    changed = len(updates)
    if changed:
        cache.invalidate(SIGNALS)
    return changed
