"""The guard every daily run starts with: the day must be a trading day with prices in the DB."""

from __future__ import annotations

from datetime import date

import numpy as np
from sqlalchemy import Connection

from krstock.db.reader import trading_days


def require_prices_on(conn: Connection, day: date) -> None:
    """Raise LookupError unless ``daily_prices`` has rows on ``day`` (one index probe), before
    any large read: a weekend, a holiday or an uncollected day fails fast and clearly."""
    last = trading_days(conn, day, 1)
    if len(last) == 0 or last[-1] != np.datetime64(day, "D"):
        raise LookupError(f"no daily prices on {day.isoformat()}: collect that day first")
