"""KRX trading days as numpy dates, from the holiday table in ``krstock.worker.calendar``.

The sources need only "weekdays minus KRX holidays" over a range, vectorized; the full calendar
(sessions, late openings, corrections from the environment) stays in the worker.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt

from krstock.worker.calendar import KRX_HOLIDAYS

_HOLIDAYS = np.array(sorted(KRX_HOLIDAYS), dtype="datetime64[D]")


def krx_trading_days(start: date, end: date) -> npt.NDArray[np.datetime64]:
    """Weekdays in [start, end] minus the KRX holidays, ascending (datetime64[D])."""
    if end < start:
        return np.array([], dtype="datetime64[D]")
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1, dtype="datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return days[(weekday < 5) & ~np.isin(days, _HOLIDAYS)]


def krx_trading_dates(start: date, end: date) -> list[date]:
    """The same days as ``datetime.date`` objects."""
    return [d.item() for d in krx_trading_days(start, end)]
