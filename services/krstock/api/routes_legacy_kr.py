"""The monolith's ``/api/kr/*`` routes (monolith.md §2.1), served from the database.

Shapes, status codes and quirks are the contract: a bare array from ``/jongga-v2/dates``, a flat
map from ``POST /realtime-prices``, top-level KOSPI/KOSDAQ fields in ``/market-gate``, both date
forms in ``/jongga-v2/history/<date>``. Errors keep the monolith's ``{"error": "<str>"}``.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import orjson
from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from krstock.api import chatbot, dispatch, prices, queries, validation
from krstock.api.cache import dumps
from krstock.api.errors import ApiError
from krstock.api.ratelimit import rate_limit
from krstock.api.responses import json_response
from krstock.api.security import authenticate, read_access, require_write
from krstock.api.state import AppState, db_session, get_state
from krstock.db.models import AIAnalysis, DailyPrice, ScanRun, Signal

NO_SIGNALS_MESSAGE = "시그널 로그가 없습니다."


def _legacy_date(raw: str, what: str = "date") -> date:
    """``YYYY-MM-DD``, ``YYYYMMDD`` or the Gen1 history basename ``kr_ai_analysis_YYYYMMDD``."""
    value = raw.strip()
    for prefix in ("kr_ai_analysis_", "jongga_v2_results_", "market_gate_"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    if value.endswith(".json"):
        value = value[:-5]
    return validation.parse_date(value, what)


def _start(
    state: AppState,
    kind: str,
    *,
    scan_date: date | None = None,
    params: dict[str, Any] | None = None,
    wait: bool = False,
) -> ScanRun:
    return dispatch.start_run(
        state.engine,
        kind,
        state.api.dispatch_mode,
        scan_date=scan_date,
        params=params,
        broker_url=state.settings.redis_url,
        wait=wait and state.api.dispatch_mode == "local",
    )


def _wait_for(state: AppState, run_id: str, timeout_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout_s
    while True:
        with state.session() as session:
            row = session.get(ScanRun, run_id)
            if row is not None and row.status not in dispatch.ACTIVE:
                return dispatch.run_as_dict(row)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.25)


# --- signals -------------------------------------------------------------------------------


def _signals_cached(state: AppState, mode: str, on: date | None) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        with state.session() as session:
            return _signals_body(session, mode, on)

    key = f"legacy:{mode}:{on or 'open'}"
    body, _ = state.cache.get_or_compute("signals", key, state.api.cache_ttl_signals_s, compute)
    data: dict[str, Any] = orjson.loads(body)
    return data


def _signals_body(session: Session, mode: str, on: date | None) -> dict[str, Any]:
    rows = queries.open_vcp_signals(session, on)
    if not rows:
        return {"signals": [], "count": 0, "message": NO_SIGNALS_MESSAGE}
    names = queries.names_for(session, [r.ticker for r in rows])
    # p10: one entry per ticker, the highest score (rows come best-first).
    seen: set[str] = set()
    items = []
    for row in rows:
        if row.ticker not in seen:
            seen.add(row.ticker)
            items.append(queries.vcp_signal_item(row, names))
    generated = max((r.updated_at for r in rows if r.updated_at), default=None)
    if mode == "ranked":
        # Gen0: drop weak contraction, double selling and low scores; rank by final_score.
        kept = [
            i
            for i in items
            if i["contraction_ratio"] <= 0.8
            and not (i["foreign_5d"] < 0 and i["inst_5d"] < 0)
            and i["score"] >= 50
        ]
        kept.sort(key=lambda i: i["final_score"], reverse=True)
        top = kept[:20]
        body: dict[str, Any] = {
            "signals": top,
            "count": len(top),
            "total_filtered": len(kept),
            "generated_at": queries.iso(generated),
        }
    else:
        top = items[:20]
        body = {
            "signals": top,
            "count": len(items),
            "generated_at": queries.iso(generated),
            "source": "db",
        }
    pairs = [(i["ticker"], date.fromisoformat(i["signal_date"])) for i in top]
    for item, analysis in _attach(session, pairs, top):
        item.update(queries.analysis_fields(analysis))
    return body


def _attach(
    session: Session, pairs: list[tuple[str, date]], items: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], AIAnalysis]]:
    found = queries.analyses_by_ticker(session, pairs)
    return [(i, found[i["ticker"]]) for i in items if i["ticker"] in found]


def _inject_prices(state: AppState, session: Session, items: list[dict[str, Any]]) -> None:
    """Live price injection: current_price and return_pct from the best price source."""
    quotes = prices.current_prices(
        session,
        state.cache,
        [i["ticker"] for i in items],
        state.api.cache_ttl_prices_s,
        state.api.price_source,
    )
    for item in items:
        quote = quotes.get(item["ticker"])
        entry = float(item.get("entry_price") or 0)
        if quote is None or entry <= 0 or item.get("status") != "OPEN":
            continue
        item["current_price"] = quote.price
        item["return_pct"] = round((quote.price - entry) / entry * 100, 2)


# --- AI analysis ---------------------------------------------------------------------------


def ai_analysis_body(session: Session, on: date | None) -> dict[str, Any] | None:
    """The kr_ai_analysis.json document (§3.6) for one signal date (default: the newest)."""
    if on is None:
        on = session.scalar(select(func.max(AIAnalysis.signal_date)))
        if on is None:
            return None
    rows = list(
        session.scalars(
            select(AIAnalysis)
            .where(AIAnalysis.signal_date == on)
            .order_by(AIAnalysis.generated_at.desc().nulls_last(), AIAnalysis.id.desc())
        )
    )
    if not rows:
        return None
    newest: dict[str, AIAnalysis] = {}
    for row in rows:
        newest.setdefault(row.ticker, row)
    signal_rows = session.scalars(
        select(Signal).where(
            Signal.signal_date == on,
            Signal.ticker.in_(list(newest)),
            Signal.strategy.in_(queries.VCP_STRATEGIES),
        )
    )
    by_ticker = {s.ticker: s for s in signal_rows}
    names = queries.names_for(session, list(newest))
    items = []
    for ticker, analysis in newest.items():
        base: dict[str, Any] = dict(analysis.payload or {})
        signal = by_ticker.get(ticker)
        if signal is not None:
            for key, value in queries.vcp_signal_item(signal, names).items():
                base.setdefault(key, value)
        else:
            name, market = names.get(ticker, ("", ""))
            base.setdefault("ticker", ticker)
            base.setdefault("name", name)
            base.setdefault("market", market)
        base.update(
            {k: v for k, v in queries.analysis_fields(analysis).items() if k not in base or v}
        )
        items.append(base)
    items.sort(key=lambda i: float(i.get("final_score") or i.get("score") or 0), reverse=True)
    generated = max((r.generated_at or r.created_at for r in rows), default=None)
    snapshot = queries.gate_snapshot(session, None)
    metrics = queries.finite(snapshot.metrics) if snapshot else {}
    return {
        "market_indices": {
            "kospi": {
                "value": metrics.get("kospi_close", metrics.get("kospi")),
                "change_pct": metrics.get("kospi_change_pct"),
            },
            "kosdaq": {
                "value": metrics.get("kosdaq_close", metrics.get("kosdaq")),
                "change_pct": metrics.get("kosdaq_change_pct"),
            },
        },
        "signals": items,
        "generated_at": queries.iso(generated),
        "signal_date": on.isoformat(),
        "analysis_source": sorted({r.analysis_source for r in rows}),
    }


# --- market gate ---------------------------------------------------------------------------


def market_gate_body(state: AppState, on: date | None) -> tuple[int, dict[str, Any]]:
    with state.session() as session:
        snapshot = queries.gate_snapshot(session, on)
        if snapshot is not None:
            return 200, queries.gate_body(snapshot)
        if on is not None:
            return 404, {"error": f"no market gate for {on.isoformat()}", "sectors": []}
        # The monolith's fallback: the KODEX 200 regime when the enhanced gate has nothing.
        code, status = queries.market_status(session)
    if code == 200 and status.get("status") in ("RISK_ON", "RISK_OFF"):
        return 200, {
            "status": status["status"],
            "score": status["score"],
            "sectors": [],
            "error": "Enhanced failed: no market gate snapshot yet (run krstock scan market-gate)",
        }
    return 503, {
        "error": "no market gate snapshot yet: run `krstock scan market-gate`",
        "sectors": [],
    }


async def _cached(request: Request, key: str, compute: Any) -> Response:
    """Signals-group cache for async routes: a hit costs one Redis GET, a miss a DB read."""
    state = get_state(request)
    cached = state.cache.get("signals", key)
    if cached is not None:
        return json_response(request, cached, max_age=30)
    body: bytes = await run_in_threadpool(lambda: dumps(compute()))
    state.cache.set("signals", key, body, state.api.cache_ttl_signals_s)
    return json_response(request, body, max_age=30)


def router() -> APIRouter:
    r = APIRouter(prefix="/api/kr", tags=["monolith /api/kr"], dependencies=[Depends(rate_limit)])
    read = [Depends(read_access)]

    @r.get("/market-status", dependencies=read, summary="KODEX 200 MA regime")
    def market_status(session: Session = Depends(db_session)) -> JSONResponse:
        code, body = queries.market_status(session)
        return JSONResponse(body, status_code=code)

    @r.get("/signals", dependencies=read, summary="Open VCP signals with live prices")
    async def signals(
        request: Request,
        mode: str = Query(default="default", pattern="^(default|ranked)$"),
        date: str | None = Query(default=None, max_length=10),
    ) -> Response:
        state = get_state(request)
        on = validation.optional_date(date)
        # The priced body lives as long as a price (1 min); the signals under it 5 min.
        key = f"legacy:priced:{mode}:{on or 'open'}"
        hit = state.cache.get("signals", key)
        if hit is not None:
            return json_response(request, hit, max_age=30)

        def build() -> bytes:
            body = _signals_cached(state, mode, on)
            with state.session() as session:
                _inject_prices(state, session, body["signals"])
            return dumps(body)

        raw: bytes = await run_in_threadpool(build)
        state.cache.set("signals", key, raw, state.api.cache_ttl_prices_s)
        return json_response(request, raw, max_age=30)

    @r.get("/stock-chart/{ticker}", dependencies=read, summary="Last 300 daily bars")
    def stock_chart(
        ticker: str,
        session: Session = Depends(db_session),
        period: str | None = Query(default=None, max_length=8),
    ) -> JSONResponse:
        code = validation.ticker(ticker)
        # Gen2 periods; Gen1 ignored ``period`` (the frontend sends 6mo) and served 300 bars.
        limit = {"1m": 30, "3m": 90, "6m": 180, "1y": 365}.get(period or "", 300)
        bars = queries.price_history(session, code, limit)
        if not bars:
            # Gen1: no price data at all → "Price data not found"; else "Ticker not found".
            any_price = session.execute(select(DailyPrice.ticker).limit(1)).first()
            message = "Ticker not found" if any_price else "Price data not found"
            return JSONResponse({"error": message}, status_code=404)
        data = [
            {
                "date": b.date.isoformat(),
                "open": float(b.open),
                "high": float(b.high),
                "low": float(b.low),
                "close": float(b.close),
                "volume": int(b.volume),
            }
            for b in bars
        ]
        return JSONResponse({"ticker": code, "data": data})

    @r.get("/ai-summary/{ticker}", dependencies=read, summary="AI summary of one ticker")
    def ai_summary(ticker: str, session: Session = Depends(db_session)) -> dict[str, Any]:
        code = validation.ticker(ticker)
        row = session.scalars(
            select(AIAnalysis)
            .where(AIAnalysis.ticker == code)
            .order_by(AIAnalysis.signal_date.desc(), AIAnalysis.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return {"ticker": code, "summary": None}
        signal = session.scalars(
            select(Signal)
            .where(Signal.ticker == code, Signal.signal_date == row.signal_date)
            .order_by(Signal.score.desc().nulls_last())
            .limit(1)
        ).first()
        payload = row.payload or {}
        return {
            "ticker": code,
            "summary": payload.get("ai_analysis") or row.reason,
            "grade": (signal.grade if signal else None) or payload.get("grade"),
            "score": (signal.score if signal else None) or payload.get("score"),
            "analysis_source": row.analysis_source,
        }

    @r.get("/ai-analysis", summary="kr_ai_analysis.json (refresh=true needs a write key)")
    def ai_analysis(
        request: Request,
        session: Session = Depends(db_session),
        refresh: bool = False,
        date: str | None = Query(default=None, max_length=32),
    ) -> JSONResponse:
        state = get_state(request)
        authenticate(
            request,
            "write" if refresh else "read",
            required=refresh or state.settings.api_require_key_for_reads,
        )
        body = ai_analysis_body(session, _legacy_date(date) if date else None)
        result: dict[str, Any] = body or {"signals": [], "generated_at": None}
        if refresh:
            run = _start(state, "analyze", params={"top": 10})
            result["refresh_run_id"] = run.id
            result["message"] = "analysis started; reload when the run has finished"
        return JSONResponse(result)

    @r.get("/ai-history-dates", dependencies=read, summary="Dates with AI analyses (Gen1 names)")
    def ai_history_dates(session: Session = Depends(db_session)) -> dict[str, Any]:
        rows = session.execute(
            select(AIAnalysis.signal_date)
            .group_by(AIAnalysis.signal_date)
            .order_by(AIAnalysis.signal_date.desc())
            .limit(30)
        )
        # Gen1's quirk: history "dates" are file basenames; /ai-history/<date> takes them back.
        dates = [f"kr_ai_analysis_{r.signal_date:%Y%m%d}" for r in rows]
        return {"dates": dates, "count": len(dates)}

    @r.get("/ai-history/{day}", dependencies=read, summary="One day's AI analysis document")
    def ai_history(day: str, session: Session = Depends(db_session)) -> JSONResponse:
        body = ai_analysis_body(session, _legacy_date(day))
        if body is None:
            return JSONResponse({"error": "Date not found"}, status_code=404)
        return JSONResponse(body)

    @r.get("/cumulative-return", dependencies=read, summary="Returns of open and closed VCP")
    def cumulative_return(request: Request, session: Session = Depends(db_session)) -> Any:
        rows = list(
            session.scalars(
                select(Signal)
                .where(Signal.strategy.in_(queries.VCP_STRATEGIES))
                .where(Signal.status.in_(("OPEN", "CLOSED")))
                .order_by(Signal.signal_date, Signal.id)
            )
        )
        open_items = [queries.vcp_signal_item(s, {}) for s in rows if s.status == "OPEN"]
        _inject_prices(get_state(request), session, open_items)
        positions = [{"ticker": i["ticker"], "return_pct": i["return_pct"]} for i in open_items]
        winners = sum(1 for p in positions if p["return_pct"] > 0)
        closed = [s for s in rows if s.status == "CLOSED"]
        trades = [
            {
                "ticker": s.ticker,
                "signal_date": s.signal_date.isoformat(),
                "exit_date": queries.iso(s.exit_date),
                "entry_price": s.entry_price,
                "exit_price": s.exit_price,
                "return_pct": s.return_pct,
                "exit_reason": s.exit_reason,
                "hold_days": s.hold_days,
            }
            for s in closed
        ]
        return {
            "cumulative_return": round(sum(float(s.return_pct or 0) for s in closed), 2),
            "trades": trades,
            "open_return": round(sum(p["return_pct"] for p in positions), 2),
            "win_rate": round(winners / len(positions) * 100, 1) if positions else 0.0,
            "winners": winners,
            "losers": len(positions) - winners,
            "total_positions": len(positions),
            "positions": positions,
        }

    @r.get("/performance", dependencies=read, summary="Strategy performance reports (§3.5)")
    def performance(session: Session = Depends(db_session)) -> dict[str, Any]:
        vcp = queries.performance_report(session, queries.VCP_STRATEGIES)
        closing = queries.performance_report(session, queries.CLOSING_BET_STRATEGIES)
        return {
            **vcp,
            "performance": [
                {"strategy": "vcp", **vcp},
                {"strategy": "closing_bet", **closing},
            ],
        }

    @r.post(
        "/vcp-scan",
        status_code=202,
        summary="Run the VCP scan (signal_tracker); needs a write key",
    )
    def vcp_scan(
        request: Request,
        _: object = Depends(require_write),
        wait: bool = Query(default=False, description="wait (up to 120 s) for the result"),
    ) -> JSONResponse:
        state = get_state(request)
        run = _start(state, "vcp_legacy")
        body: dict[str, Any] = {
            "status": "started",
            "run_id": run.id,
            "kind": run.kind,
            "message": "VCP scan started; follow it at /api/v1/runs/" + run.id,
        }
        if wait:
            finished = _wait_for(state, run.id, 120.0)
            if finished is not None:
                body.update(
                    status=finished["status"].lower(), counts=finished["counts"], run=finished
                )
                return JSONResponse(
                    body, status_code=200 if finished["status"] != "FAILED" else 500
                )
        return JSONResponse(body, status_code=202)

    @r.post("/update", summary="Run the full update pipeline; returns true when started")
    def update(request: Request, _: object = Depends(require_write)) -> JSONResponse:
        state = get_state(request)
        try:
            run = _start(state, "pipeline")
        except ApiError as exc:
            if exc.status == 409:
                return JSONResponse(False, headers={"X-Error": exc.message[:200]})
            raise
        return JSONResponse(True, headers={"X-Run-Id": run.id})

    @r.get(
        "/market-gate",
        dependencies=read,
        summary="Market Gate (status, score, sectors, KOSPI/KOSDAQ fields)",
    )
    async def market_gate(
        request: Request,
        date: str | None = Query(default=None, max_length=10),
        refresh: bool = Query(default=False, description="recompute first (write key)"),
    ) -> Response:
        state = get_state(request)
        on = validation.optional_date(date)
        if refresh:
            await run_in_threadpool(authenticate, request, "write", True)
            await run_in_threadpool(_start, state, "market_gate", scan_date=on)
        key = f"legacy:{on or 'latest'}"
        cached = state.cache.get("gate", key)
        if cached is not None:
            return json_response(request, cached, max_age=60)
        code, body = await run_in_threadpool(market_gate_body, state, on)
        if code != 200:
            return JSONResponse(body, status_code=code)
        raw = orjson.dumps(body, default=str)
        state.cache.set("gate", key, raw, state.api.cache_ttl_gate_s)
        return json_response(request, raw, max_age=60)

    @r.get("/market-gate/dates", dependencies=read, summary="Dates with a Market Gate")
    def market_gate_dates(session: Session = Depends(db_session)) -> list[str]:
        from krstock.db.models import MarketGateSnapshot

        rows = session.execute(
            select(MarketGateSnapshot.date)
            .where(MarketGateSnapshot.policy_name == "monolith")
            .order_by(MarketGateSnapshot.date.desc())
            .limit(400)
        )
        return [row.date.isoformat() for row in rows]

    @r.get("/market-gate/history/{day}", dependencies=read, summary="One day's Market Gate")
    def market_gate_history(request: Request, day: str) -> JSONResponse:
        code, body = market_gate_body(get_state(request), _legacy_date(day))
        return JSONResponse(body, status_code=code)

    @r.post("/market-gate/update", status_code=202, summary="Recompute the gate (write key)")
    def market_gate_update(
        request: Request,
        _: object = Depends(require_write),
        body: dict[str, Any] | None = Body(default=None),
    ) -> dict[str, Any]:
        target = (body or {}).get("target_date")
        on = _legacy_date(str(target)) if target else None
        run = _start(get_state(request), "market_gate", scan_date=on)
        return {"status": "started", "run_id": run.id, "target_date": queries.iso(on)}

    @r.post("/realtime-prices", dependencies=read, summary="Flat {ticker: price} map")
    def realtime_prices(
        request: Request,
        session: Session = Depends(db_session),
        body: dict[str, Any] | None = Body(default=None),
    ) -> Response:
        raw = (body or {}).get("tickers") or []
        if not isinstance(raw, list):
            return JSONResponse({"error": "tickers must be a list"}, status_code=400)
        codes = validation.tickers([str(t) for t in raw])
        state = get_state(request)
        quotes = prices.current_prices(
            session, state.cache, codes, state.api.cache_ttl_prices_s, state.api.price_source
        )
        flat = {t: q.price for t, q in quotes.items() if q.price > 0}
        sources = ",".join(sorted({q.source for q in quotes.values()})) or "none"
        return JSONResponse(flat, headers={"X-Price-Source": sources})

    # --- chatbot (rule-based) ------------------------------------------------------------

    def _store(request: Request, user: str | None) -> chatbot.ChatStore:
        return chatbot.ChatStore(get_state(request).redis, chatbot.user_id(user))

    @r.post("/chatbot", dependencies=read, summary="Chat (rule-based, answers from the DB)")
    def chat(
        request: Request,
        session: Session = Depends(db_session),
        body: dict[str, Any] | None = Body(default=None),
        x_user_id: str | None = Header(default=None, max_length=64),
    ) -> JSONResponse:
        message = (body or {}).get("message")
        if not isinstance(message, str) or not message.strip():
            return JSONResponse({"error": "message is required"}, status_code=400)
        if len(message) > 2000:
            return JSONResponse({"error": "message is too long (2000 max)"}, status_code=400)
        store = _store(request, x_user_id or (body or {}).get("user_id"))
        reply = chatbot.answer(session, store, message)
        store.append("user", message)
        store.append("model", reply)
        return JSONResponse({"response": reply, "source": chatbot.SOURCE})

    @r.get("/chatbot/welcome", dependencies=read, summary="Welcome message")
    def chat_welcome() -> dict[str, Any]:
        return {"message": chatbot.WELCOME, "source": chatbot.SOURCE}

    @r.get("/chatbot/memory", dependencies=read, summary="This user's memory")
    def chat_memory(
        request: Request, x_user_id: str | None = Header(default=None, max_length=64)
    ) -> dict[str, Any]:
        return {"memory": _store(request, x_user_id).memory()}

    @r.post("/chatbot/memory", dependencies=read, summary="Update this user's memory")
    def chat_memory_update(
        request: Request,
        body: dict[str, Any] = Body(...),
        x_user_id: str | None = Header(default=None, max_length=64),
    ) -> JSONResponse:
        if len(body) > 50:
            return JSONResponse({"error": "at most 50 memory items per update"}, status_code=400)
        _store(request, x_user_id).remember(body)
        return JSONResponse({"status": "ok"})

    @r.delete("/chatbot/memory", dependencies=read, summary="Clear this user's memory")
    def chat_memory_clear(
        request: Request, x_user_id: str | None = Header(default=None, max_length=64)
    ) -> dict[str, str]:
        _store(request, x_user_id).forget()
        return {"status": "cleared"}

    @r.get("/chatbot/history", dependencies=read, summary="This user's chat history")
    def chat_history(
        request: Request, x_user_id: str | None = Header(default=None, max_length=64)
    ) -> dict[str, Any]:
        return {"history": _store(request, x_user_id).history()}

    @r.delete("/chatbot/history", dependencies=read, summary="Clear this user's chat history")
    def chat_history_clear(
        request: Request, x_user_id: str | None = Header(default=None, max_length=64)
    ) -> dict[str, str]:
        _store(request, x_user_id).clear_history()
        return {"status": "cleared"}

    @r.get("/chatbot/status", dependencies=read, summary="Chatbot status (source: rules)")
    def chat_status(
        request: Request, x_user_id: str | None = Header(default=None, max_length=64)
    ) -> dict[str, Any]:
        return chatbot.status(_store(request, x_user_id))

    # --- closing bet (jongga V2) ---------------------------------------------------------

    @r.get("/jongga-v2/latest", dependencies=read, summary="The newest closing-bet result")
    async def jongga_latest(request: Request) -> Response:
        state = get_state(request)

        def compute() -> dict[str, Any]:
            with state.session() as session:
                dates = queries.closing_bet_dates(session, limit=1)
                if not dates:
                    return {
                        "date": queries.today_kst().isoformat(),
                        "signals": [],
                        "total_candidates": 0,
                        "filtered_count": 0,
                        "message": "No data available",
                    }
                result = queries.jongga_result(session, dates[0])
                assert result is not None  # the date came from a signal row
                return result

        return await _cached(request, "jongga:latest", compute)

    @r.get("/jongga-v2/dates", dependencies=read, summary="Bare array of result dates")
    async def jongga_dates(request: Request) -> Response:
        state = get_state(request)

        def compute() -> list[str]:
            with state.session() as session:
                return [d.isoformat() for d in queries.closing_bet_dates(session)]

        return await _cached(request, "jongga:dates", compute)

    @r.get("/jongga-v2/history/{day}", dependencies=read, summary="One day (YYYYMMDD|YYYY-MM-DD)")
    def jongga_history(day: str, session: Session = Depends(db_session)) -> JSONResponse:
        try:
            on = _legacy_date(day)
        except ApiError:
            return JSONResponse({"error": "Data not found for this date"}, status_code=404)
        result = queries.jongga_result(session, on)
        if result is None:
            return JSONResponse({"error": "Data not found for this date"}, status_code=404)
        return JSONResponse(result)

    @r.get("/jongga-v2/status", dependencies=read, summary="Is a closing-bet run active")
    def jongga_status(session: Session = Depends(db_session)) -> dict[str, Any]:
        active = dispatch.active_run(session, "closing_bet")
        last = session.scalars(
            select(ScanRun)
            .where(ScanRun.kind.in_(dispatch.kind_aliases("closing_bet")))
            .order_by(ScanRun.created_at.desc())
            .limit(1)
        ).first()
        return {
            "isRunning": active is not None,
            "updated_at": queries.iso(last.finished_at or last.created_at) if last else None,
            "status": "RUNNING" if active is not None else "IDLE",
            "run_id": last.id if last else None,
        }

    @r.post("/jongga-v2/run", status_code=202, summary="Run the closing-bet engine (write key)")
    def jongga_run(
        request: Request,
        _: object = Depends(require_write),
        body: dict[str, Any] | None = Body(default=None),
    ) -> JSONResponse:
        body = body or {}
        params: dict[str, Any] = {}
        if "capital" in body:
            capital = body["capital"]
            if not isinstance(capital, int) or not 0 < capital <= 10**13:
                return JSONResponse({"error": "capital must be a positive integer (KRW)"}, 400)
            # Sizing capital is a SignalPolicy setting (KRSTOCK_CAPITAL_KRW for the default);
            # a per-request value is recorded on the run but does not change the engine.
            params["requested_capital"] = capital
        target = body.get("target_date")
        on = _legacy_date(str(target)) if target else None
        try:
            run = _start(get_state(request), "closing_bet", scan_date=on, params=params)
        except ApiError as exc:
            if exc.status == 409:
                return JSONResponse({"status": "error", "message": "Already running"}, 409)
            raise
        return JSONResponse(
            {
                "status": "accepted",
                "message": "closing-bet run started; poll /api/kr/jongga-v2/status",
                "run_id": run.id,
                "target_date": queries.iso(on),
            },
            status_code=202,
        )

    @r.post("/jongga-v2/analyze", summary="Re-score one stock of the latest result (write key)")
    def jongga_analyze(
        request: Request,
        _: object = Depends(require_write),
        body: dict[str, Any] | None = Body(default=None),
    ) -> JSONResponse:
        code_raw = (body or {}).get("code")
        if not code_raw:
            return JSONResponse({"error": "Stock code is required"}, status_code=400)
        code = validation.ticker(str(code_raw))
        state = get_state(request)
        with state.session() as session:
            dates = queries.closing_bet_dates(session, limit=1)
        if not dates:
            return JSONResponse({"error": "No closing-bet result to re-analyse"}, 404)
        try:
            run = _start(
                state, "closing_bet", scan_date=dates[0], params={"tickers": [code]}, wait=True
            )
        except ApiError as exc:
            if exc.status == 409:
                return JSONResponse({"status": "failed", "message": "Already running"}, 409)
            raise
        finished = _wait_for(state, run.id, 90.0)
        with state.session() as session:
            result = queries.jongga_result(session, dates[0])
        item = next(
            (s for s in (result or {}).get("signals", []) if s.get("stock_code") == code), None
        )
        if finished is None or finished["status"] == "FAILED" or item is None:
            return JSONResponse(
                {
                    "status": "failed",
                    "message": "Analysis failed or no signal generated",
                    "run_id": run.id,
                },
                status_code=500,
            )
        state.cache.invalidate("signals")
        return JSONResponse({"status": "success", "signal": item, "run_id": run.id})

    return r
