"""What an imported monolith file cannot have meant: ledger rows whose numbers are impossible,
and which preset (``SignalPolicy`` name) produced a file.

Flagged rows are kept (they are the user's data) with their flags in ``payload.quality_flags``;
the import summary lists them and performance figures leave them out unless asked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from krstock.domain.calendar import KRX_HOLIDAYS

QUALITY_FLAGS_KEY = "quality_flags"
CLOSED_ON_SIGNAL_DAY = "closed_on_signal_day"
EXIT_BEFORE_SIGNAL = "exit_before_signal"
BEYOND_PRICE_LIMIT = "beyond_price_limit"
# KRX's daily price limit (±30 % of the previous close since 2015).
DAILY_LIMIT = 0.30

MONOLITH_PRESET = "monolith"
P10_PRESET = "p10"
# The original closing-bet engine's universe floors (monolith.md §4.2): a file holding a
# signal below either was produced with p10's lowered thresholds.
MONOLITH_MIN_TRADING_VALUE = 50_000_000_000
MONOLITH_MIN_CHANGE_PCT = 5.0

_HOLIDAYS = np.array(sorted(KRX_HOLIDAYS), dtype="datetime64[D]")


def sessions_between(
    start: npt.NDArray[np.datetime64], end: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.int64]:
    """KRX sessions in (start, end] per row (0 where ``end`` is not after ``start``)."""
    first = start.astype("datetime64[D]") + 1
    last = end.astype("datetime64[D]") + 1
    later = last > first
    counts = np.zeros(len(start), dtype=np.int64)
    counts[later] = np.busday_count(first[later], last[later], holidays=_HOLIDAYS)
    return counts


def ledger_flags(
    signal_date: npt.NDArray[np.datetime64],
    exit_date: npt.NDArray[np.datetime64],
    entry: npt.NDArray[np.float64],
    exit_price: npt.NDArray[np.float64],
) -> list[list[str]]:
    """Per row, why its close cannot be right (empty: nothing found).

    - ``closed_on_signal_day`` / ``exit_before_signal``: the entry is the signal day's close,
      so no exit can happen on that day or before it;
    - ``beyond_price_limit``: exit ÷ entry outside what ±30 % a session allows over the
      sessions between them (009810: 261 → 1,350 in 3 sessions, at most ×2.197).
    """
    closed = ~np.isnat(exit_date) & np.isfinite(exit_price) & (entry > 0)
    flags: list[list[str]] = [[] for _ in range(len(entry))]
    same_day = closed & (exit_date == signal_date)
    before = closed & (exit_date < signal_date)
    sessions = sessions_between(signal_date, np.where(closed, exit_date, signal_date))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = exit_price / entry
    up = (1 + DAILY_LIMIT) ** sessions
    down = (1 - DAILY_LIMIT) ** sessions
    beyond = closed & (sessions > 0) & ((ratio > up) | (ratio < down))
    for mask, flag in (
        (same_day, CLOSED_ON_SIGNAL_DAY),
        (before, EXIT_BEFORE_SIGNAL),
        (beyond, BEYOND_PRICE_LIMIT),
    ):
        for i in np.flatnonzero(mask):
            flags[i].append(flag)
    return flags


def closing_bet_preset(items: list[Any]) -> str:
    """``p10`` when a signal lies below the original engine's floors, else ``monolith``."""
    for item in items:
        if not isinstance(item, dict):
            continue
        value, change = item.get("trading_value"), item.get("change_pct")
        if isinstance(value, int | float) and value < MONOLITH_MIN_TRADING_VALUE:
            return P10_PRESET
        if isinstance(change, int | float) and change < MONOLITH_MIN_CHANGE_PCT:
            return P10_PRESET
    return MONOLITH_PRESET
