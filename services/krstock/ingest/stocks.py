"""Merging stock rows from a file with what ``stocks`` already holds.

Several files describe stocks, with different authority. Column policies per mode:
- ``new``: the file's value wins when it has one; ``fill``: it is used only where the stored
  value is unknown ('' name, 'UNKNOWN' market/listing, NULL); ``keep``: the stored value stays.
A new ticker is inserted with everything the file knows. Only one file kind is ``new`` for a
column, so importing the same files twice changes nothing the second time.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from krstock.marketdata.base import STOCK_COLUMNS

WRITE_COLUMNS = [*STOCK_COLUMNS, "yahoo_symbol"]
_UNKNOWN: dict[str, Any] = {"name": "", "market": "UNKNOWN", "listing_status": "UNKNOWN"}
_FLAGS = ("is_spac", "is_reit", "is_preferred")
POLICIES: dict[str, dict[str, str]] = {
    # korean_stocks_list.csv: the universe.
    "authority": {
        "name": "new", "market": "new", "sector": "new", "listing_status": "new",
        "is_etf": "keep", "is_etn": "keep", **dict.fromkeys(_FLAGS, "new"),
        "yahoo_symbol": "keep", "source": "fill",
    },
    # ticker_to_yahoo_map.csv: the Yahoo symbol; names and markets only where unknown.
    "yahoo": {
        "name": "fill", "market": "fill", "sector": "fill", "listing_status": "fill",
        "is_etf": "keep", "is_etn": "keep", **dict.fromkeys(_FLAGS, "keep"),
        "yahoo_symbol": "new", "source": "fill",
    },
    # Prices, flows, signals, analyses: create missing stocks, fill unknown names/markets.
    "fill": {
        "name": "fill", "market": "fill", "sector": "fill", "listing_status": "fill",
        "is_etf": "keep", "is_etn": "keep", **dict.fromkeys(_FLAGS, "keep"),
        "yahoo_symbol": "fill", "source": "fill",
    },
}  # fmt: skip


def _is_unknown(column: str, value: Any) -> bool:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return True
    return column in _UNKNOWN and value == _UNKNOWN[column]


def existing_stocks(conn: Connection, tickers: list[str]) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        text(f"SELECT {', '.join(WRITE_COLUMNS)} FROM stocks WHERE ticker = ANY(:tickers)"),
        {"tickers": tickers},
    ).mappings()
    return {row["ticker"]: dict(row) for row in rows}


def merge_stocks(
    incoming: pd.DataFrame, stored: dict[str, dict[str, Any]], mode: str
) -> pd.DataFrame:
    """The rows to upsert: new tickers as they come, known ones merged by ``mode``'s policy."""
    policy = POLICIES[mode]
    rows: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = incoming[WRITE_COLUMNS].to_dict("records")  # type: ignore[assignment]
    for record in records:
        old = stored.get(record["ticker"])
        if old is None:
            rows.append(record)
            continue
        merged = {"ticker": record["ticker"]}
        for column, rule in policy.items():
            new_value, old_value = record[column], old[column]
            take_new = (rule == "new" and not _is_unknown(column, new_value)) or (
                rule == "fill" and _is_unknown(column, old_value)
            )
            merged[column] = new_value if take_new else old_value
        rows.append(merged)
    frame = pd.DataFrame(rows, columns=WRITE_COLUMNS)
    for column in ("sector", "yahoo_symbol", "source"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame
