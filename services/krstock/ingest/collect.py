"""Collect a date range from a market data source into the database (idempotent upserts).

Tables are written in chunks of trading days, each chunk in its own transaction, so a long
collection shows progress and a failure keeps what was already written; re-running the same
range inserts nothing (``bulk_upsert`` only touches rows whose values changed).

News: the source's own (the sample market's; krx and yahoo publish none), plus, when keyed, the
API collectors' (``krstock.marketdata.news_feed``: Naver Search, OpenDART) for the range's last
day and its movers; each row's ``origin`` names the provider, and the summary's ``news`` says
which providers ran, what each returned, or why none did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from krstock.config import get_settings
from krstock.db.bulk import UpsertCounts, bulk_upsert
from krstock.db.models import Stock
from krstock.domain.calendar import krx_trading_dates
from krstock.marketdata.base import NEWS_COLUMNS, MarketDataSource
from krstock.marketdata.news_feed import NO_KEYS, NewsFeed, news_feed_from_settings
from krstock.marketdata.registry import provided_by

# Table -> its natural key (the upsert conflict target).
TABLE_KEYS: dict[str, list[str]] = {
    "stocks": ["ticker"],
    "daily_prices": ["ticker", "date"],
    "investor_flows": ["ticker", "date", "investor"],
    "index_prices": ["code", "date"],
    "fx_rates": ["pair", "date"],
    "news_items": ["ticker", "url"],
}
# Which source method feeds which table (a source's optional ``provides`` names methods).
SOURCE_METHOD = {
    "stocks": "stocks",
    "daily_prices": "daily_prices",
    "investor_flows": "investor_flows",
    "index_prices": "index_prices",
    "fx_rates": "fx_rates",
    "news_items": "news",
}
CHUNK_TRADING_DAYS = 20

Progress = Callable[[float, str], None]


class _Tally:
    """Rows and upsert counts per table."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}

    def add(self, table: str, rows: int, counts: UpsertCounts) -> None:
        entry = self.tables.setdefault(table, {"rows": 0, "inserted": 0, "updated": 0})
        entry.pop("skipped", None)  # the source had none, but the news APIs wrote rows
        entry["rows"] += rows
        entry["inserted"] += counts.inserted
        entry["updated"] += counts.updated

    def skip(self, table: str, reason: str) -> None:
        self.tables[table] = {"rows": 0, "inserted": 0, "updated": 0, "skipped": reason}


def _chunks(start: date, end: date, days: list[date], size: int) -> list[tuple[date, date]]:
    """[start, end] cut every ``size`` trading days into contiguous calendar ranges, so a row
    on a day the calendar does not know as a trading day is still inside one of them."""
    if not days:
        return []
    bounds = [start, *days[size::size]]
    ends = [b - timedelta(days=1) for b in bounds[1:]] + [end]
    return list(zip(bounds, ends, strict=True))


def collect(
    engine: Engine,
    source: MarketDataSource,
    start: date,
    end: date,
    tickers: list[str] | None = None,
    progress: Progress | None = None,
    chunk_days: int = CHUNK_TRADING_DAYS,
    news_feed: NewsFeed | None = None,
) -> dict[str, Any]:
    """Write stocks, daily_prices, investor_flows, index_prices, fx_rates and news_items for
    [start, end] from ``source``. ``progress(percent, message)`` is called after each step.

    ``news_feed`` (default: the one the settings configure, none without keys) adds the news
    APIs' items for ``end``. Returns ``{source, start, end, tables: {name: {rows, inserted,
    updated}}, news, duration_s}``; a table the source does not provide is reported with
    ``skipped``.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if chunk_days < 1:
        raise ValueError(f"chunk_days must be at least 1, got {chunk_days}")
    began = time.perf_counter()
    provides = provided_by(source)
    tally = _Tally()
    report = progress or (lambda percent, message: None)

    def provided(table: str) -> bool:
        if provides is None or SOURCE_METHOD[table] in provides:
            return True
        tally.skip(table, f"not provided by the {source.name} source")
        return False

    def write(table: str, frame: pd.DataFrame) -> None:
        with engine.begin() as conn:
            counts = bulk_upsert(conn, table, frame, TABLE_KEYS[table])
        tally.add(table, len(frame), counts)

    universe: list[str] | None = list(tickers) if tickers is not None else None
    if provided("stocks"):
        stocks = source.stocks()
        if tickers is not None:
            stocks = stocks[stocks["ticker"].isin(tickers)]
        write("stocks", stocks)
        if universe is None:
            universe = stocks["ticker"].tolist()
    report(5.0, f"stocks from {source.name}")

    days = krx_trading_dates(start, end)
    chunks = _chunks(start, end, days, chunk_days)
    want_prices, want_flows = provided("daily_prices"), provided("investor_flows")
    want_news = provided("news_items")
    news_universe = universe or []
    news_seen: set[tuple[str, str]] = set()  # news(day) also returns the day before's items
    last_prices: pd.DataFrame | None = None  # the last chunk's, for the news APIs' movers
    for number, (first, last) in enumerate(chunks, start=1):
        if want_prices:
            last_prices = source.daily_prices(first, last, tickers)
            write("daily_prices", last_prices)
        if want_flows:
            write("investor_flows", source.investor_flows(first, last, tickers))
        if want_news and news_universe:
            news = [source.news(day, news_universe) for day in krx_trading_dates(first, last)]
            news = [n for n in news if not n.empty]
            if news:
                frame = pd.concat(news, ignore_index=True).drop_duplicates(["ticker", "url"])
                keys = list(zip(frame["ticker"], frame["url"], strict=True))
                fresh = [key not in news_seen for key in keys]
                news_seen.update(keys)
                if any(fresh):
                    write("news_items", frame.loc[fresh, NEWS_COLUMNS])
        report(5.0 + 85.0 * number / len(chunks), f"{first}..{last} from {source.name}")

    if days and provided("index_prices"):
        write("index_prices", source.index_prices(start, end))
    feed = news_feed if news_feed is not None else news_feed_from_settings(get_settings().news)
    try:
        news_report = _api_news(engine, source, feed, end, tickers, last_prices, news_seen, write)
    finally:
        if news_feed is None:
            feed.close()
    report(95.0, f"index series from {source.name}")
    if days and provided("fx_rates"):
        write("fx_rates", source.fx_rates(start, end))
    report(100.0, f"collected {start}..{end} from {source.name}")
    for table in TABLE_KEYS:  # a table with nothing to write still appears, with zeros
        tally.tables.setdefault(table, {"rows": 0, "inserted": 0, "updated": 0})
    return {
        "source": source.name,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "trading_days": len(days),
        "tables": tally.tables,
        "news": news_report,
        "duration_s": round(time.perf_counter() - began, 3),
    }


def news_targets(
    prices: pd.DataFrame | None, day: date, tickers: list[str] | None, limit: int, min_change: float
) -> list[str]:
    """Whose news the APIs are asked for: the tickers given (up to ``limit``), else the day's
    movers (change >= ``min_change`` %) by trading value, as the closing-bet scan reads them."""
    if tickers is not None:
        return list(tickers)[:limit]
    if prices is None or prices.empty:
        return []
    on_day = pd.to_datetime(prices["date"]).dt.date == day
    today = prices[on_day & (prices["change_pct"] >= min_change)]
    return today.sort_values("trading_value", ascending=False)["ticker"].head(limit).tolist()


def _api_news(
    engine: Engine,
    source: MarketDataSource,
    feed: NewsFeed,
    day: date,
    tickers: list[str] | None,
    prices: pd.DataFrame | None,
    seen: set[tuple[str, str]],
    write: Callable[[str, pd.DataFrame], None],
) -> dict[str, Any]:
    """The news APIs' items for ``day`` into news_items. The report: ``providers`` (name ->
    requests, items, kept, error) and the window, or an empty ``providers`` and a ``note``
    saying why none ran."""
    own = f"news only from the {source.name} source"
    if not feed.enabled:
        return {"providers": {}, "note": f"{NO_KEYS}: {own}"}
    if source.name == "sample":
        return {
            "providers": {},
            "note": f"the sample market's companies are synthetic: {own}",
        }
    settings = get_settings().news
    targets = news_targets(
        prices, day, tickers, settings.news_max_tickers, settings.news_min_change_pct
    )
    if not targets:
        return {"providers": {}, "note": f"no movers on {day} to collect news for"}
    with engine.connect() as conn:
        names = dict(
            conn.execute(select(Stock.ticker, Stock.name).where(Stock.ticker.in_(targets))).all()
        )
    frame, summary = feed.collect(day, {t: names.get(t) or "" for t in targets})
    keys = list(zip(frame["ticker"], frame["url"], strict=True))
    fresh = [key not in seen for key in keys]
    seen.update(keys)
    if any(fresh):
        write("news_items", frame.loc[fresh])
    return summary
