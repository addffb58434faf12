"""/api/kr/backtest-summary: the VCP and closing-bet cards of the monolith's dashboard.

The closing-bet card keeps the monolith's values (its contract: status, count, win_rate,
avg_return, the "Accumulating" state), which come from a heuristic, not from trades: a past
day's signal with change_pct > 0 counts as a +5 % win, otherwise a −3 % loss. The response says
so (``basis``) and puts the tracker's figures for the same strategy beside it (``tracked``), so
that the card and the tracked performance are never two unexplained truths.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from krstock.api.services.performance import counted_rows, flagged_count
from krstock.api.services.strategies import CLOSING_BET_STRATEGIES, VCP_STRATEGIES
from krstock.db.models import Signal
from krstock.domain.tracking import closing_bet_backtest_summary, vcp_backtest_summary

TRACKED_NOTE = (
    "tracked trades: closed signals' return_pct as the tracker closed them at their exit rule"
)
HEURISTIC_NOTE = (
    "the monolith's heuristic, not a price replay: each signal of a day before today with "
    "change_pct > 0 counts as a +5 % win, otherwise a -3 % loss"
)


def _closed_returns(
    session: Session, strategies: tuple[str, ...], include_flagged: bool
) -> list[float]:
    query = select(Signal.return_pct).where(
        Signal.strategy.in_(strategies),
        Signal.status == "CLOSED",
        Signal.return_pct.is_not(None),
        counted_rows(include_flagged),
    )
    return [float(r) for (r,) in session.execute(query) if r is not None]


def _open_count(session: Session, strategies: tuple[str, ...], include_flagged: bool) -> int:
    query = select(Signal.id).where(
        Signal.strategy.in_(strategies), Signal.status == "OPEN", counted_rows(include_flagged)
    )
    return len(session.execute(query).all())


def tracked_card(
    session: Session, strategies: tuple[str, ...], include_flagged: bool
) -> dict[str, Any]:
    """A card of tracked figures: closed trades, win rate (return > 0), mean return, open."""
    card = vcp_backtest_summary(_closed_returns(session, strategies, include_flagged))
    if card["status"] == "No Data":
        card["status"] = "No Closed Trades"
    return {
        **card,
        "open": _open_count(session, strategies, include_flagged),
        "basis": "tracked",
        "basis_note": TRACKED_NOTE,
    }


def backtest_summary(
    session: Session, today: date, include_flagged: bool = False
) -> dict[str, Any]:
    """The two cards by the domain's definitions (tracking.py), each saying what it is."""
    vcp = vcp_backtest_summary(_closed_returns(session, VCP_STRATEGIES, include_flagged))
    by_date: dict[str, list[dict[str, Any]]] = {}
    for day, payload in session.execute(
        select(Signal.signal_date, Signal.payload).where(
            Signal.strategy.in_(CLOSING_BET_STRATEGIES)
        )
    ):
        by_date.setdefault(day.isoformat(), []).append(
            {"change_pct": (payload or {}).get("change_pct")}
        )
    heuristic = closing_bet_backtest_summary(by_date, today.isoformat())
    return {
        "vcp": {**vcp, "basis": "tracked", "basis_note": TRACKED_NOTE},
        "closing_bet": {
            **heuristic,
            "basis": "heuristic",
            "basis_note": HEURISTIC_NOTE,
            "tracked": tracked_card(session, CLOSING_BET_STRATEGIES, include_flagged),
        },
        "flagged": {
            "rows": flagged_count(session, VCP_STRATEGIES + CLOSING_BET_STRATEGIES),
            "included": include_flagged,
        },
        "debug": {
            "vcp_source": "db:signals (closed VCP signals, tracker returns)",
            "closing_bet_source": "db:signals (closing-bet days before today, monolith heuristic)",
            "closing_bet_tracked_source": "db:signals (closed closing-bet signals)",
            "closing_bet_days": len(by_date),
        },
    }
