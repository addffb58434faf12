"""Strategy performance (the tracker's closed signals) and backtests (trades and runs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from krstock.api.deps import READ_ACCESS, StateDep
from krstock.api.infra.response_cache import cached
from krstock.api.routes.v1.docs import ERRORS, limit_query
from krstock.api.schemas import ReportedStrategy
from krstock.api.services.performance import performance_report
from krstock.api.services.serializers import iso, trade_dict
from krstock.api.services.strategies import strategy_aliases
from krstock.app.kinds import parse_kind, spellings
from krstock.db.models import ScanRun, Trade

router = APIRouter(tags=["performance"], dependencies=[READ_ACCESS], responses=ERRORS)
# The spellings each reported strategy is stored under, in the order the report lists them.
STRATEGY_GROUPS: dict[str, tuple[str, ...]] = {
    name: spellings(parse_kind(name))
    for name in ("vcp_legacy", "vcp", "closing_bet", "trend_template")
}


@router.get("/performance", summary="Performance report per strategy (§3.5 fields)")
def performance(
    request: Request,
    state: StateDep,
    strategy: ReportedStrategy | None = None,
    include_flagged: bool = Query(
        default=False,
        description="count imported rows flagged as impossible (left out by default)",
    ),
) -> Response:
    def compute() -> dict[str, Any]:
        names = [strategy] if strategy else list(STRATEGY_GROUPS)
        with state.session() as session:
            data = [
                {"strategy": n, **performance_report(session, STRATEGY_GROUPS[n], include_flagged)}
                for n in names
            ]
        return {"data": data, "count": len(data)}

    return cached(request, "signals", state.api.cache_ttl_signals_s, compute)


def _trade_stats(session: Session, strategy: str | None) -> list[dict[str, Any]]:
    """Closed trades per strategy: count, winners, average and total net return, hold days."""
    query = select(
        Trade.strategy,
        func.count().label("trades"),
        func.count().filter(Trade.net_return_pct > 0).label("winners"),
        func.avg(Trade.net_return_pct).label("avg_net"),
        func.sum(Trade.net_return_pct).label("sum_net"),
        func.avg(Trade.hold_days).label("avg_hold"),
    ).where(Trade.exit_date.is_not(None))
    if strategy:
        query = query.where(Trade.strategy.in_(strategy_aliases(strategy)))
    return [
        {
            "strategy": row.strategy,
            "trades": int(row.trades),
            "winners": int(row.winners),
            "win_rate": round(int(row.winners) / int(row.trades) * 100, 1),
            "avg_net_return_pct": round(float(row.avg_net or 0), 2),
            "total_net_return_pct": round(float(row.sum_net or 0), 2),
            "avg_hold_days": round(float(row.avg_hold or 0), 1),
        }
        for row in session.execute(query.group_by(Trade.strategy))
        if row.trades
    ]


def _backtest_runs(session: Session, limit: int) -> list[dict[str, Any]]:
    runs = session.scalars(
        select(ScanRun)
        .where(ScanRun.kind == "backtest")
        .order_by(ScanRun.created_at.desc())
        .limit(limit)
    )
    return [
        {
            "id": x.id,
            "status": x.status,
            "counts": x.counts,
            "params": x.params,
            "created_at": iso(x.created_at),
            "finished_at": iso(x.finished_at),
        }
        for x in runs
    ]


@router.get("/backtests", summary="Trade statistics per strategy and the backtest runs")
def backtests(
    request: Request,
    state: StateDep,
    strategy: str | None = Query(default=None, max_length=32),
    limit: int = limit_query(20),
) -> Response:
    def compute() -> dict[str, Any]:
        with state.session() as session:
            return {
                "strategies": _trade_stats(session, strategy),
                "runs": _backtest_runs(session, limit),
            }

    return cached(request, "signals", state.api.cache_ttl_signals_s, compute)


@router.get("/trades", summary="Closed and open trades, newest first")
def trades(
    state: StateDep,
    strategy: str | None = Query(default=None, max_length=32),
    limit: int = limit_query(),
) -> dict[str, Any]:
    query = select(Trade)
    if strategy:
        query = query.where(Trade.strategy.in_(strategy_aliases(strategy)))
    with state.session() as session:
        rows = session.scalars(query.order_by(Trade.id.desc()).limit(limit))
        items = [trade_dict(x) for x in rows]
    return {"data": items, "count": len(items), "limit": limit, "next_cursor": None}
