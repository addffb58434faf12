"""The guard every daily run starts with: the day must be a trading day with prices in the DB."""

from __future__ import annotations

from datetime import date

import numpy as np
from sqlalchemy import Connection

from krstock.config import get_settings
from krstock.db.reader import trading_days
from krstock.domain.calendar import KrxCalendar


def require_prices_on(conn: Connection, day: date) -> None:
    """Raise LookupError unless ``daily_prices`` has rows on ``day`` (one index probe), before
    any large read: a weekend, a holiday or an uncollected day fails fast and clearly."""
    last = trading_days(conn, day, 1)
    if len(last) == 0 or last[-1] != np.datetime64(day, "D"):
        raise LookupError(f"no daily prices on {day.isoformat()}: {_why_no_prices(day)}")


def _why_no_prices(day: date) -> str:
    """A closed market (weekend, KRX holiday) or a day nobody collected: they need different
    fixes, so the message tells them apart."""
    settings = get_settings().worker
    calendar = KrxCalendar(
        settings.krx_extra_holidays, settings.krx_extra_trading_days, strict=False
    )
    closed = calendar.holiday_reason(day)
    if closed is None:
        return f"collect that day first (krstock collect --start {day} --end {day})"
    before = calendar.previous_trading_day(day).isoformat()
    return f"it is not a KRX trading day ({closed}); the trading day before it is {before}"
