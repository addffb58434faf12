"""Why a run may have found nothing: the inputs it lacked, for which dates, and how to get them.

A scan with zero signals means "no setups" only when its inputs were there; these checks make
"no inputs" say so (``reasons`` in the scan and gate results, and in the run's ``counts``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

from krstock.domain.market import MarketWindow

# Calendar days to collect so that a window of N trading days is covered (weekends, holidays).
CALENDAR_PER_TRADING_DAY = 1.5


def reason(code: str, message: str, *, start: date, end: date, fix: str) -> dict[str, Any]:
    """One missing input: a stable ``code``, a sentence, the dates it concerns and a command."""
    return {
        "code": code,
        "message": message,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "fix": fix,
    }


def collect_command(source: str, start: date, end: date) -> str:
    return f"krstock collect --source {source} --start {start.isoformat()} --end {end.isoformat()}"


def history_start(day: date, trading_days: int) -> date:
    return day - timedelta(days=int(trading_days * CALENDAR_PER_TRADING_DAY) + 7)


def _day(value: np.datetime64) -> date:
    return date.fromisoformat(str(value)[:10])


def flow_reasons(window: MarketWindow, flow_days: int) -> list[dict[str, Any]]:
    """No investor flow at all in the window's last ``flow_days`` trading days."""
    if flow_days <= 0 or window.shape[1] == 0:
        return []
    recent = slice(max(0, window.shape[1] - flow_days), window.shape[1])
    flows = (
        window.foreign_net_shares,
        window.inst_net_shares,
        window.foreign_net_krw,
        window.inst_net_krw,
    )
    if any(np.isfinite(f[:, recent]).any() for f in flows):
        return []
    start, end = _day(window.dates[recent][0]), _day(window.dates[-1])
    return [
        reason(
            "no_investor_flows",
            f"no investor flows (foreign/institution) from {start} to {end}: "
            "the flow criteria cannot pass",
            start=start,
            end=end,
            fix=collect_command("krx", start, end),
        )
    ]


def history_reasons(window: MarketWindow, lookback_days: int, day: date) -> list[dict[str, Any]]:
    """Fewer trading days of prices than the strategy reads."""
    have = window.shape[1]
    if have >= lookback_days:
        return []
    start = history_start(day, lookback_days)
    return [
        reason(
            "short_price_history",
            f"only {have} trading days of prices up to {day}; the scan reads {lookback_days}",
            start=start,
            end=day,
            fix=collect_command("krx", start, day),
        )
    ]


def news_reasons(
    candidates: list[str], news: dict[str, Any] | None, day: date, lookback_days: int
) -> list[dict[str, Any]]:
    """Candidates were scored but none had a headline in the news window."""
    if news is None or not candidates or news:
        return []
    start = day - timedelta(days=lookback_days - 1)
    return [
        reason(
            "no_news",
            f"no news for any of the {len(candidates)} candidates from {start} to {day}: "
            "their news score is 0",
            start=start,
            end=day,
            fix="krx and yahoo publish no news: set KRSTOCK_NAVER_CLIENT_ID/SECRET or "
            "KRSTOCK_DART_API_KEY and collect again (docs/news.md)",
        )
    ]


def series_reasons(
    short: dict[str, tuple[int, int]], day: date, trading_days: int
) -> list[dict[str, Any]]:
    """Index/FX series with fewer rows than the gate needs (``short``: code → (found, needed))."""
    start = history_start(day, trading_days)
    out = []
    for code, (found, needed) in short.items():
        fx = code == "USDKRW"
        table = "fx_rates" if fx else "index_prices"
        out.append(
            reason(
                "no_fx_series" if fx else "no_index_series",
                f"{code}: {found} rows in {table} up to {day}, the gate needs {needed}",
                start=start,
                end=day,
                fix=collect_command("yahoo" if fx else "krx", start, day),
            )
        )
    return out
