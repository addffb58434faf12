"""Strategy performance (§3.5) and the cumulative-return view (the backtest-summary cards are
in ``backtest_summary``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, not_, select, true
from sqlalchemy.orm import Session

from krstock.api.infra.state import AppState
from krstock.api.services.live_prices import inject_prices
from krstock.api.services.serializers import iso
from krstock.api.services.strategies import CLOSING_BET_STRATEGIES, VCP_STRATEGIES
from krstock.api.services.vcp_signals import vcp_signal_item
from krstock.db.models import Signal
from krstock.domain.tracking import (
    TrackingPolicy,
    vcp_strategy_params,
)
from krstock.domain.tracking import performance_report as report
from krstock.domain.vcp_legacy import VcpLegacyPolicy
from krstock.marketdata.legacy_quality import QUALITY_FLAGS_KEY

SUM_BASIS = "sum of the closed trades' return_pct (the monolith's figure, not an equity return)"
COMPOUNDED_BASIS = (
    "equity compounded over exit days: each day's closed trades share the equity equally "
    "(the day's mean return_pct), days in exit-date order"
)


def counted_rows(include_flagged: bool) -> ColumnElement[bool]:
    """Rows that count in performance figures: imported rows flagged as impossible
    (``payload.quality_flags``) are left out unless asked."""
    return true() if include_flagged else not_(Signal.payload.has_key(QUALITY_FLAGS_KEY))


def flagged_count(session: Session, strategies: tuple[str, ...]) -> int:
    query = select(func.count()).where(
        Signal.strategy.in_(strategies), Signal.payload.has_key(QUALITY_FLAGS_KEY)
    )
    return int(session.scalar(query) or 0)


def compounded_return(closed: list[tuple[date | None, float]]) -> float:
    """``COMPOUNDED_BASIS`` in percent, from (exit date, return_pct) pairs."""
    by_day: dict[date | None, list[float]] = {}
    for day, pct in closed:
        by_day.setdefault(day, []).append(pct)
    equity = 1.0
    for day in sorted(by_day, key=lambda d: (d is None, d)):
        returns = by_day[day]
        equity *= 1 + sum(returns) / len(returns) / 100
    return round((equity - 1) * 100, 2)


def performance_report(
    session: Session, strategies: tuple[str, ...], include_flagged: bool = False
) -> dict[str, Any]:
    """SignalTracker.get_performance_report's fields (§3.5): the domain's one definition, fed
    with the strategy's signal rows (five narrow columns, one indexed query). ``flagged``
    says how many flagged rows exist and whether they were counted."""
    rows = [
        {
            "signal_date": r.signal_date.isoformat(),
            "status": r.status,
            "return_pct": r.return_pct,
            "hold_days": r.hold_days,
            "exit_date": iso(r.exit_date),
        }
        for r in session.execute(
            select(
                Signal.signal_date,
                Signal.status,
                Signal.return_pct,
                Signal.hold_days,
                Signal.exit_date,
            ).where(Signal.strategy.in_(strategies), counted_rows(include_flagged))
        )
        if r.status != "CLOSED" or r.return_pct is not None
    ]
    params: dict[str, Any] = {}
    if set(strategies) & set(VCP_STRATEGIES):
        vcp = VcpLegacyPolicy()
        params = vcp_strategy_params(
            foreign_min=vcp.foreign_min_5d,
            contraction_max=vcp.contraction_max,
            near_high_pct=vcp.near_high_pct,
            tracking=TrackingPolicy(),
        )
    flagged = {"rows": flagged_count(session, strategies), "included": include_flagged}
    return {**report(rows, strategy_params=params), "flagged": flagged}


def legacy_performance(session: Session, include_flagged: bool = False) -> dict[str, Any]:
    """/api/kr/performance: the VCP report's fields, and one report per strategy."""
    vcp = performance_report(session, VCP_STRATEGIES, include_flagged)
    closing = performance_report(session, CLOSING_BET_STRATEGIES, include_flagged)
    return {
        **vcp,
        "performance": [
            {"strategy": "vcp", **vcp},
            {"strategy": "closing_bet", **closing},
        ],
    }


def cumulative_return(
    state: AppState, session: Session, today: date, include_flagged: bool = False
) -> dict[str, Any]:
    """/api/kr/cumulative-return: closed VCP trades summed (the monolith's figure) and
    compounded (an equity figure), open positions at live prices."""
    rows = list(
        session.scalars(
            select(Signal)
            .where(Signal.strategy.in_(VCP_STRATEGIES))
            .where(Signal.status.in_(("OPEN", "CLOSED")), counted_rows(include_flagged))
            .order_by(Signal.signal_date, Signal.id)
        )
    )
    open_items = [vcp_signal_item(s, {}, today) for s in rows if s.status == "OPEN"]
    inject_prices(state, session, open_items)
    positions = [
        {"ticker": i["ticker"], "return_pct": i["return_pct"], "price_status": i["price_status"]}
        for i in open_items
    ]
    # Positions without a price on or after their signal date count nowhere (not as losses).
    priced = [p["return_pct"] for p in positions if p["return_pct"] is not None]
    winners = sum(1 for r in priced if r > 0)
    closed = [s for s in rows if s.status == "CLOSED"]
    returns = [(s.exit_date, float(s.return_pct or 0)) for s in closed]
    return {
        "cumulative_return": round(sum(r for _, r in returns), 2),
        "cumulative_return_basis": SUM_BASIS,
        "compounded_return": compounded_return(returns),
        "compounded_return_basis": COMPOUNDED_BASIS,
        "flagged": {
            "rows": flagged_count(session, VCP_STRATEGIES),
            "included": include_flagged,
        },
        "trades": [_trade(s) for s in closed],
        "open_return": round(sum(priced), 2),
        "win_rate": round(winners / len(priced) * 100, 1) if priced else 0.0,
        "winners": winners,
        "losers": len(priced) - winners,
        "total_positions": len(positions),
        "unpriced_positions": len(positions) - len(priced),
        "positions": positions,
    }


def _trade(signal: Signal) -> dict[str, Any]:
    return {
        "ticker": signal.ticker,
        "signal_date": signal.signal_date.isoformat(),
        "exit_date": iso(signal.exit_date),
        "entry_price": signal.entry_price,
        "exit_price": signal.exit_price,
        "return_pct": signal.return_pct,
        "exit_reason": signal.exit_reason,
        "hold_days": signal.hold_days,
    }
