"""Strategy performance (the tracker's closed signals) and backtests (trades and runs)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from krstock.api import queries
from krstock.api.routes_v1.common import ERRORS, cached, limit_query
from krstock.api.security import read_access
from krstock.api.serializers import trade_dict
from krstock.api.state import get_state
from krstock.db.models import ScanRun, Trade

STRATEGY_GROUPS = {
    "vcp_legacy": ("vcp_legacy", "vcp-legacy"),
    "vcp": ("vcp",),
    "closing_bet": queries.CLOSING_BET_STRATEGIES,
    "trend_template": ("trend_template", "trend-template"),
}


def router() -> APIRouter:
    r = APIRouter(tags=["performance"], dependencies=[Depends(read_access)], responses=ERRORS)

    @r.get("/performance", summary="Performance report per strategy (§3.5 fields)")
    def performance(
        request: Request,
        strategy: Literal["vcp_legacy", "vcp", "closing_bet", "trend_template"] | None = None,
    ) -> Response:
        state = get_state(request)

        def compute() -> dict[str, Any]:
            names = [strategy] if strategy else list(STRATEGY_GROUPS)
            with state.session() as session:
                data = [
                    {"strategy": n, **queries.performance_report(session, STRATEGY_GROUPS[n])}
                    for n in names
                ]
            return {"data": data, "count": len(data)}

        return cached(request, "signals", state.api.cache_ttl_signals_s, compute)

    @r.get("/backtests", summary="Trade statistics per strategy and the backtest runs")
    def backtests(
        request: Request,
        strategy: str | None = Query(default=None, max_length=32),
        limit: int = limit_query(20),
    ) -> Response:
        state = get_state(request)

        def compute() -> dict[str, Any]:
            with state.session() as session:
                query = select(
                    Trade.strategy,
                    func.count().label("trades"),
                    func.count().filter(Trade.net_return_pct > 0).label("winners"),
                    func.avg(Trade.net_return_pct).label("avg_net"),
                    func.sum(Trade.net_return_pct).label("sum_net"),
                    func.avg(Trade.hold_days).label("avg_hold"),
                ).where(Trade.exit_date.is_not(None))
                if strategy:
                    query = query.where(Trade.strategy.in_(queries.strategy_aliases(strategy)))
                stats = [
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
                runs = session.scalars(
                    select(ScanRun)
                    .where(ScanRun.kind == "backtest")
                    .order_by(ScanRun.created_at.desc())
                    .limit(limit)
                )
                run_items = [
                    {
                        "id": x.id,
                        "status": x.status,
                        "counts": x.counts,
                        "params": x.params,
                        "created_at": queries.iso(x.created_at),
                        "finished_at": queries.iso(x.finished_at),
                    }
                    for x in runs
                ]
            return {"strategies": stats, "runs": run_items}

        return cached(request, "signals", state.api.cache_ttl_signals_s, compute)

    @r.get("/trades", summary="Closed and open trades, newest first")
    def trades(
        request: Request,
        strategy: str | None = Query(default=None, max_length=32),
        limit: int = limit_query(),
    ) -> dict[str, Any]:
        query = select(Trade)
        if strategy:
            query = query.where(Trade.strategy.in_(queries.strategy_aliases(strategy)))
        with get_state(request).session() as session:
            rows = session.scalars(query.order_by(Trade.id.desc()).limit(limit))
            items = [trade_dict(x) for x in rows]
        return {"data": items, "count": len(items), "limit": limit, "next_cursor": None}

    return r
