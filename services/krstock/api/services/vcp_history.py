"""/api/kr/vcp-history and /api/kr/vcp-stats: the VCP signal ledger (the monolith's
``signals_log.csv``) as the later monolith's pages read it, from the ``vcp-legacy`` signals.

Imported rows flagged as impossible (``payload.quality_flags``) are left out unless asked, as in
every other performance figure; ``flagged`` says how many exist and whether they were counted.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from krstock.api.services.performance import counted_rows, flagged_count, performance_report
from krstock.api.services.stocks import names_for
from krstock.api.services.strategies import VCP_STRATEGIES
from krstock.db.models import Signal


def korean_month_day(day: date) -> str:
    """``02월 05일``: how the later monolith's history table shows a signal date."""
    return f"{day.month:02d}월 {day.day:02d}일"


def _number(value: float | None) -> float | None:
    return float(value) if value is not None else None


def history_item(signal: Signal, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    name, market = names.get(signal.ticker, ("", ""))
    payload = signal.payload or {}
    return {
        "id": signal.id,
        "ticker": signal.ticker,
        "name": name or payload.get("name", ""),
        "market": market or payload.get("market", ""),
        "signalDate": korean_month_day(signal.signal_date),
        "foreign5d": int(signal.foreign_5d or 0),
        "inst5d": int(signal.inst_5d or 0),
        "score": _number(signal.score),
        "contractionRatio": _number(signal.contraction_ratio),
        "entryPrice": _number(signal.entry_price),
        "status": signal.status,
        # The ledger's exit columns: empty (null) while the signal is open, as in the CSV.
        "exitPrice": _number(signal.exit_price),
        "exitDate": signal.exit_date.isoformat() if signal.exit_date else None,
        "returnPct": _number(signal.return_pct) if signal.status == "CLOSED" else None,
        "holdDays": int(signal.hold_days or 0),
    }


def vcp_history(
    session: Session, days: int, end: date, include_flagged: bool = False
) -> dict[str, Any]:
    """VCP signals dated within the ``days`` calendar days up to ``end`` (signal_date ≥
    end − days, the monolith's cutoff), newest first."""
    start = end - timedelta(days=days) if end.toordinal() > days else date.min
    rows = list(
        session.scalars(
            select(Signal)
            .where(
                Signal.strategy.in_(VCP_STRATEGIES),
                Signal.signal_date >= start,
                Signal.signal_date <= end,
                counted_rows(include_flagged),
            )
            .order_by(Signal.signal_date.desc(), Signal.score.desc().nulls_last(), Signal.id)
        )
    )
    names = names_for(session, [r.ticker for r in rows])
    return {
        "signals": [history_item(r, names) for r in rows],
        "count": len(rows),
        "days": days,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "flagged": {
            "rows": flagged_count(session, VCP_STRATEGIES),
            "included": include_flagged,
        },
    }


def vcp_stats(session: Session, include_flagged: bool = False) -> dict[str, Any]:
    """The ledger's totals under the monolith's names, by the one definition of §3.5
    (win = a closed return above 0; averages are simple means of % returns)."""
    report = performance_report(session, VCP_STRATEGIES, include_flagged)
    return {
        "total_signals": report["total_signals"],
        "closed_signals": report["closed_signals"],
        "open_signals": report["open_signals"],
        "win_rate": report["win_rate"],
        "avg_return_pct": report["avg_return"],
        "max_return_pct": report["best_trade"],
        "min_return_pct": report["worst_trade"],
        "avg_hold_days": report["avg_hold_days"],
        "total_winners": report["wins"],
        "total_losers": report["losses"],
        "period": report["period"],
        "flagged": report["flagged"],
    }
