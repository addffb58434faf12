"""Collect a date range from a market data source into the database (idempotent upserts).

Tables are written in chunks of trading days, each chunk in its own transaction, so a long
collection shows progress and a failure keeps what was already written; re-running the same
range inserts nothing (``bulk_upsert`` only touches rows whose values changed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from krstock.db.bulk import UpsertCounts, bulk_upsert
from krstock.domain.calendar import krx_trading_dates
from krstock.marketdata.base import NEWS_COLUMNS, MarketDataSource
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
) -> dict[str, Any]:
    """Write stocks, daily_prices, investor_flows, index_prices, fx_rates and news_items for
    [start, end] from ``source``. ``progress(percent, message)`` is called after each step.

    Returns ``{source, start, end, tables: {name: {rows, inserted, updated}}, duration_s}``; a
    table the source does not provide is reported with ``skipped``.
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
    for number, (first, last) in enumerate(chunks, start=1):
        if want_prices:
            write("daily_prices", source.daily_prices(first, last, tickers))
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
        "duration_s": round(time.perf_counter() - began, 3),
    }
