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
    as_of: str


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
    tickers, then one bulk UPDATE (by primary key) of the rows that changed. Returns how many
    rows were updated.
    """
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
        cache.invalidate(SIGNALS)
    return changed
