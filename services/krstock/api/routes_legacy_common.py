"""The monolith's ``common`` blueprint (monolith.md §2.2), served from the database.

Data status reports tables instead of files (same shape); the SSE update streams start real
pipeline runs and stream their progress from ``scan_runs``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from krstock.api import dispatch, prices, queries, validation
from krstock.api.errors import ApiError
from krstock.api.ratelimit import rate_limit
from krstock.api.security import read_access, require_write
from krstock.api.state import AppState, db_session, get_state
from krstock.db.models import DailyPrice, ScanRun, Signal, Stock

# What each monolith data file became, and how its freshness is read.
DATA_TABLES: tuple[dict[str, Any], ...] = (
    {
        "name": "Daily Prices",
        "table": "daily_prices",
        "fresh": "SELECT max(date)::text FROM daily_prices",
        "link": "/dashboard/kr",
        "menu": "Overview",
    },
    {
        "name": "Institutional Trend",
        "table": "investor_flows",
        "fresh": "SELECT max(date)::text FROM investor_flows",
        "link": "/dashboard/kr/vcp",
        "menu": "VCP Signals",
    },
    {
        "name": "AI Analysis",
        "table": "ai_analyses",
        "fresh": "SELECT max(coalesce(generated_at, created_at))::text FROM ai_analyses",
        "link": "/dashboard/kr/vcp",
        "menu": "VCP Signals",
    },
    {
        "name": "VCP Signals",
        "table": "signals",
        "where": "strategy IN ('vcp_legacy', 'vcp-legacy')",
        "fresh": "SELECT max(updated_at)::text FROM signals "
        "WHERE strategy IN ('vcp_legacy', 'vcp-legacy')",
        "link": "/dashboard/kr/vcp",
        "menu": "VCP Signals",
    },
    {
        "name": "AI Jongga V2",
        "table": "signals",
        "where": "strategy IN ('closing_bet', 'closing-bet', 'jongga_v2')",
        "fresh": "SELECT max(updated_at)::text FROM signals "
        "WHERE strategy IN ('closing_bet', 'closing-bet', 'jongga_v2')",
        "link": "/dashboard/kr/closing-bet",
        "menu": "종가베팅",
    },
)
# update-single types → run kinds (the monolith's scheduler flags).
SINGLE_UPDATES = {
    "daily_prices": "collect",
    "institutional": "collect",
    "ai_analysis": "analyze",
    "vcp_signals": "vcp_legacy",
    "jongga_v2": "closing_bet",
    "market_gate": "market_gate",
}


def human_size(size: int | None) -> str:
    """The monolith's sizes: "1.2 MB", "3.4 KB", "12 B", or "-"."""
    if size is None or size < 0:
        return "-"
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} B"


def data_status(session: Session) -> dict[str, Any]:
    files = []
    for spec in DATA_TABLES:
        where = f" WHERE {spec['where']}" if "where" in spec else ""
        count = int(
            session.execute(text(f"SELECT count(*) FROM {spec['table']}{where}")).scalar_one()
        )
        fresh = session.execute(text(spec["fresh"])).scalar()
        size = session.execute(
            text("SELECT pg_total_relation_size(to_regclass(:t))"), {"t": spec["table"]}
        ).scalar()
        files.append(
            {
                "name": spec["name"],
                "path": f"db:{spec['table']}" + (f" ({spec['where']})" if "where" in spec else ""),
                "exists": count > 0,
                "lastModified": fresh or "",
                "size": human_size(int(size) if size is not None and count else None),
                "rowCount": count,
                "link": spec["link"],
                "menu": spec["menu"],
            }
        )
    active = session.scalars(
        select(ScanRun)
        .where(ScanRun.kind == "pipeline", ScanRun.status.in_(dispatch.ACTIVE))
        .order_by(ScanRun.created_at.desc())
        .limit(1)
    ).first()
    last = session.scalars(
        select(ScanRun)
        .where(ScanRun.kind == "pipeline")
        .order_by(ScanRun.created_at.desc())
        .limit(1)
    ).first()
    return {
        "files": files,
        "update_status": {
            "isRunning": active is not None,
            "lastRun": queries.iso(last.finished_at or last.created_at) if last else "",
            "progress": f"{active.progress:.0f}%" if active is not None else "",
        },
    }


async def run_event_stream(state: AppState, run_id: str) -> AsyncIterator[str]:
    """SSE lines for one run: a line per change, then the monolith's end sequence."""
    yield f"data: [SYSTEM] run {run_id} started\n\n"
    last: tuple[Any, ...] | None = None
    exit_code = 1

    def read() -> dict[str, Any] | None:
        with state.session() as session:
            row = session.get(ScanRun, run_id)
            return dispatch.run_as_dict(row) if row is not None else None

    for _ in range(4 * 60 * 30):  # at most 30 minutes of polling every 0.25 s
        current = await run_in_threadpool(read)
        if current is None:
            yield "data: [SYSTEM] run record vanished\n\n"
            break
        key = (current["status"], current["progress"], str(current["counts"]))
        if key != last:
            last = key
            line = f"[{current['kind']}] {current['status']} {current['progress']:.0f}%"
            if current["counts"]:
                line += " " + ", ".join(f"{k}={v}" for k, v in current["counts"].items())
            if current["error"]:
                line += f" error: {current['error'][:500]}"
            yield f"data: {line}\n\n"
        if current["status"] not in dispatch.ACTIVE:
            exit_code = 0 if current["status"] == "SUCCEEDED" else 1
            break
        await asyncio.sleep(0.25)
    yield f"data: [SYSTEM] Process finished with exit code {exit_code}\n\n"
    yield "event: end\ndata: close\n\n"


def _sse(state: AppState, run_id: str) -> StreamingResponse:
    return StreamingResponse(
        run_event_stream(state, run_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Run-Id": run_id},
    )


def backtest_summary(session: Session) -> dict[str, Any]:
    """The /api/kr/backtest-summary cards, by the domain's definitions (tracking.py)."""
    from krstock.domain.tracking import closing_bet_backtest_summary, vcp_backtest_summary

    returns = [
        float(r or 0.0)  # NULLs are filtered out by the query
        for (r,) in session.execute(
            select(Signal.return_pct).where(
                Signal.strategy.in_(queries.VCP_STRATEGIES),
                Signal.status == "CLOSED",
                Signal.return_pct.is_not(None),
            )
        )
    ]
    by_date: dict[str, list[dict[str, Any]]] = {}
    for day, payload in session.execute(
        select(Signal.signal_date, Signal.payload).where(
            Signal.strategy.in_(queries.CLOSING_BET_STRATEGIES)
        )
    ):
        by_date.setdefault(day.isoformat(), []).append(
            {"change_pct": (payload or {}).get("change_pct")}
        )
    return {
        "vcp": vcp_backtest_summary(returns),
        "closing_bet": closing_bet_backtest_summary(by_date, queries.today_kst().isoformat()),
        "debug": {
            "vcp_source": "db:signals (closed VCP signals, tracker returns)",
            "closing_bet_source": "db:signals (closing-bet days before today, monolith heuristic)",
            "closing_bet_days": len(by_date),
        },
    }


def router() -> APIRouter:
    r = APIRouter(prefix="/api", tags=["monolith /api"], dependencies=[Depends(rate_limit)])
    read = [Depends(read_access)]

    @r.get("/kr/backtest-summary", dependencies=read, summary="VCP and closing-bet cards")
    def backtest(session: Session = Depends(db_session)) -> dict[str, Any]:
        return backtest_summary(session)

    @r.get("/system/data-status", dependencies=read, summary="Table freshness and row counts")
    def system_data_status(request: Request) -> Any:
        state = get_state(request)

        def compute() -> dict[str, Any]:
            with state.session() as session:
                return data_status(session)

        body, _ = state.cache.get_or_compute("misc", "data-status", 30, compute)
        return Response(content=body, media_type="application/json")

    @r.get(
        "/system/update-data-stream",
        summary="Run the full pipeline, streaming progress (SSE; write key, ?api_key= allowed)",
    )
    def update_stream(request: Request, _: object = Depends(require_write)) -> StreamingResponse:
        state = get_state(request)
        run = dispatch.start_run(
            state.engine, "pipeline", state.api.dispatch_mode, broker_url=state.settings.redis_url
        )
        return _sse(state, run.id)

    @r.get("/system/update-single", summary="Run one update step, streaming progress (SSE)")
    def update_single(
        request: Request,
        _: object = Depends(require_write),
        type: str = Query(..., max_length=32),
    ) -> StreamingResponse:
        kind = SINGLE_UPDATES.get(type)
        if kind is None:
            raise ApiError(400, f"unknown type {type!r}; use one of {', '.join(SINGLE_UPDATES)}")
        state = get_state(request)
        run = dispatch.start_run(
            state.engine, kind, state.api.dispatch_mode, broker_url=state.settings.redis_url
        )
        return _sse(state, run.id)

    @r.post("/realtime-prices", dependencies=read, summary="{prices: {ticker: price}}")
    def realtime_prices(
        request: Request,
        session: Session = Depends(db_session),
        body: dict[str, Any] | None = Body(default=None),
    ) -> JSONResponse:
        raw = (body or {}).get("tickers") or []
        market = (body or {}).get("market", "kr")
        if not isinstance(raw, list):
            return JSONResponse({"error": "tickers must be a list"}, status_code=400)
        if market != "kr":
            return JSONResponse({"error": f"market {market!r} is not served; use 'kr'"}, 400)
        codes = validation.tickers([str(t) for t in raw])
        state = get_state(request)
        quotes = prices.current_prices(
            session, state.cache, codes, state.api.cache_ttl_prices_s, state.api.price_source
        )
        # The common route reports 0 for a failed lookup (the kr route drops it instead).
        return JSONResponse({"prices": {t: (quotes[t].price if t in quotes else 0) for t in codes}})

    @r.get("/stock/{ticker}", dependencies=read, summary="Stock info and last bar")
    def stock(request: Request, ticker: str, session: Session = Depends(db_session)) -> Any:
        code = validation.ticker(ticker)
        state = get_state(request)

        def compute() -> dict[str, Any] | None:
            row = session.get(Stock, code)
            bars = queries.price_history(session, code, 1)
            if row is None and not bars:
                return None
            full = session.scalars(
                select(DailyPrice)
                .where(DailyPrice.ticker == code)
                .order_by(DailyPrice.date.desc())
                .limit(1)
            ).first()
            return {
                "ticker": code,
                "name": row.name if row else "",
                "sector": row.sector if row else None,
                "price": float(full.close) if full else None,
                "change": float(full.change) if full and full.change is not None else None,
                "change_pct": queries.finite(full.change_pct) if full else None,
                "volume": int(full.volume) if full else None,
                "market_cap": None,
                "pe_ratio": None,
                "dividend_yield": None,
                "date": full.date.isoformat() if full else None,
            }

        body, _ = state.cache.get_or_compute(
            "stock", f"info:{code}", state.api.cache_ttl_stock_s, compute
        )
        if body == b"null":
            return JSONResponse({"error": f"unknown ticker {code}"}, status_code=404)
        return Response(content=body, media_type="application/json")

    @r.get("/portfolio-summary", dependencies=read, summary="Counts per market")
    def portfolio_summary(session: Session = Depends(db_session)) -> dict[str, Any]:
        open_rows = queries.open_vcp_signals(session)
        latest_cb = queries.closing_bet_dates(session, limit=1)
        grades: list[str] = []
        if latest_cb:
            grades = [
                g
                for (g,) in session.execute(
                    select(Signal.grade).where(
                        Signal.strategy.in_(queries.CLOSING_BET_STRATEGIES),
                        Signal.signal_date == latest_cb[0],
                    )
                )
                if g
            ]
        top_grade = min(grades, key=lambda g: queries.GRADE_ORDER.get(g, 9)) if grades else None
        return {
            "kr_market": {"count": len({r.ticker for r in open_rows}), "top_grade": top_grade},
            "us_market": {"count": 0, "top_grade": None, "message": "not served by krstock"},
            "crypto": {"count": 0, "top_grade": None, "message": "not served by krstock"},
        }

    @r.get("/portfolio", dependencies=read, summary="Open VCP positions as a portfolio")
    def portfolio(request: Request, session: Session = Depends(db_session)) -> dict[str, Any]:
        rows = queries.open_vcp_signals(session)
        names = queries.names_for(session, [r.ticker for r in rows])
        items = [queries.vcp_signal_item(r, names) for r in rows[:20]]
        from krstock.api.routes_legacy_kr import _inject_prices

        _inject_prices(get_state(request), session, items)
        holdings = [
            {
                "ticker": i["ticker"],
                "name": i["name"],
                "price": i["current_price"],
                "recommendation_price": i["entry_price"],
                "return_pct": i["return_pct"],
                "score": i["score"],
                "grade": None,
                "wave": None,
                "sd_stage": None,
                "inst_trend": None,
                "ytd": None,
            }
            for i in items
        ]
        markets: dict[str, int] = {}
        for i in items:
            markets[i["market"] or "UNKNOWN"] = markets.get(i["market"] or "UNKNOWN", 0) + 1
        avg = round(sum(h["return_pct"] for h in holdings) / len(holdings), 2) if holdings else 0
        return {
            "key_stats": {
                "qtd_return": None,
                "ytd_return": None,
                "one_year_return": None,
                "div_yield": None,
                "expense_ratio": None,
                "open_avg_return": avg,
            },
            "market_indices": [],
            "holdings_distribution": [
                {"label": k, "value": v, "color": None} for k, v in sorted(markets.items())
            ],
            "top_holdings": holdings,
            "style_box": {},
            "performance": [],
            "latest_date": max((i["signal_date"] for i in items), default=None),
            "source": "open VCP signals (the wave-transition portfolio is not migrated)",
        }

    @r.post("/run-analysis", summary="Start AI analysis and tracking (write key)")
    def run_analysis(request: Request, _: object = Depends(require_write)) -> dict[str, Any]:
        state = get_state(request)
        analyze = dispatch.start_run(
            state.engine, "analyze", state.api.dispatch_mode, broker_url=state.settings.redis_url
        )
        track = dispatch.start_run(
            state.engine, "track", state.api.dispatch_mode, broker_url=state.settings.redis_url
        )
        return {
            "status": "started",
            "message": "analysis and performance tracking started",
            "run_ids": [analyze.id, track.id],
        }

    return r
