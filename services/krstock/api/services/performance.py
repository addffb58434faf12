"""Strategy performance (§3.5), the backtest-summary cards and the cumulative-return view."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from krstock.api.infra.state import AppState
from krstock.api.services.live_prices import inject_prices
from krstock.api.services.serializers import iso
from krstock.api.services.strategies import CLOSING_BET_STRATEGIES, VCP_STRATEGIES
from krstock.api.services.vcp_signals import vcp_signal_item
from krstock.db.models import Signal
from krstock.domain.tracking import (
    TrackingPolicy,
    closing_bet_backtest_summary,
    vcp_backtest_summary,
    vcp_strategy_params,
)
from krstock.domain.tracking import performance_report as report
from krstock.domain.vcp_legacy import VcpLegacyPolicy


def performance_report(session: Session, strategies: tuple[str, ...]) -> dict[str, Any]:
    """SignalTracker.get_performance_report's fields (§3.5): the domain's one definition, fed
    with the strategy's signal rows (five narrow columns, one indexed query)."""
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
            ).where(Signal.strategy.in_(strategies))
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
    return report(rows, strategy_params=params)


def legacy_performance(session: Session) -> dict[str, Any]:
    """/api/kr/performance: the VCP report's fields, and one report per strategy."""
    vcp = performance_report(session, VCP_STRATEGIES)
    closing = performance_report(session, CLOSING_BET_STRATEGIES)
    return {
        **vcp,
        "performance": [
            {"strategy": "vcp", **vcp},
            {"strategy": "closing_bet", **closing},
        ],
    }


def backtest_summary(session: Session, today: date) -> dict[str, Any]:
    """The /api/kr/backtest-summary cards, by the domain's definitions (tracking.py)."""
    returns = [
        float(r or 0.0)  # NULLs are filtered out by the query
        for (r,) in session.execute(
            select(Signal.return_pct).where(
                Signal.strategy.in_(VCP_STRATEGIES),
                Signal.status == "CLOSED",
                Signal.return_pct.is_not(None),
            )
        )
    ]
    by_date: dict[str, list[dict[str, Any]]] = {}
    for day, payload in session.execute(
        select(Signal.signal_date, Signal.payload).where(
            Signal.strategy.in_(CLOSING_BET_STRATEGIES)
        )
    ):
        by_date.setdefault(day.isoformat(), []).append(
            {"change_pct": (payload or {}).get("change_pct")}
        )
    return {
        "vcp": vcp_backtest_summary(returns),
        "closing_bet": closing_bet_backtest_summary(by_date, today.isoformat()),
        "debug": {
            "vcp_source": "db:signals (closed VCP signals, tracker returns)",
            "closing_bet_source": "db:signals (closing-bet days before today, monolith heuristic)",
            "closing_bet_days": len(by_date),
        },
    }


def cumulative_return(state: AppState, session: Session, today: date) -> dict[str, Any]:
    """/api/kr/cumulative-return: closed VCP trades summed, open positions at live prices."""
    rows = list(
        session.scalars(
            select(Signal)
            .where(Signal.strategy.in_(VCP_STRATEGIES))
            .where(Signal.status.in_(("OPEN", "CLOSED")))
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
    return {
        "cumulative_return": round(sum(float(s.return_pct or 0) for s in closed), 2),
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
