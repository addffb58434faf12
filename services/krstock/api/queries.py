"""Read queries shared by the monolith-compatible routes, /api/v1 and the services.

Each function takes a Session and returns plain JSON-able values. Every query is keyed on an
indexed column (primary keys, ``ix_signals_*``, ``ix_daily_prices_date_ticker``, ...).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from krstock.db.models import AIAnalysis, DailyPrice, MarketGateSnapshot, Signal, Stock

KST = ZoneInfo("Asia/Seoul")
# Strategy names in ``signals.strategy``: the monolith's signal_tracker VCP and closing-bet V2.
# Both spellings are accepted: the worker's scan kinds use dashes, older rows underscores.
# /api/kr/signals is the monolith's signal_tracker rule: ``vcp-legacy`` (the true VCP detector,
# strategy ``vcp``, is served by /api/v1/signals?strategy=vcp).
VCP_STRATEGIES = ("vcp_legacy", "vcp-legacy")
CLOSING_BET_STRATEGIES = ("closing_bet", "closing-bet", "jongga_v2")
GRADE_ORDER = {"S": 0, "A": 1, "B": 2, "C": 3}


def strategy_aliases(name: str) -> tuple[str, ...]:
    """Both spellings of a strategy name (``closing_bet`` / ``closing-bet``)."""
    return tuple(dict.fromkeys((name, name.replace("_", "-"), name.replace("-", "_"))))


def today_kst() -> date:
    return datetime.now(KST).date()


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def finite(value: Any) -> Any:
    """NaN and ±Inf become None (the monolith's JSON-safe metrics rule)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def names_for(session: Session, tickers: list[str]) -> dict[str, tuple[str, str]]:
    """ticker → (name, market) for the given tickers (primary-key lookup)."""
    if not tickers:
        return {}
    rows = session.execute(
        select(Stock.ticker, Stock.name, Stock.market).where(Stock.ticker.in_(set(tickers)))
    )
    return {r.ticker: (r.name, r.market) for r in rows}


def latest_closes(session: Session, tickers: list[str]) -> dict[str, tuple[float, date]]:
    """ticker → (last close, its date): one DISTINCT ON over the (ticker, date) primary key."""
    if not tickers:
        return {}
    rows = session.execute(
        select(DailyPrice.ticker, DailyPrice.close, DailyPrice.date)
        .where(DailyPrice.ticker.in_(set(tickers)), DailyPrice.close > 0)
        .order_by(DailyPrice.ticker, DailyPrice.date.desc())
        .ext(distinct_on(DailyPrice.ticker))
    )
    return {r.ticker: (float(r.close), r.date) for r in rows}


def price_history(session: Session, ticker: str, limit: int) -> list[Any]:
    """The last ``limit`` daily bars of ``ticker``, oldest first."""
    rows = session.execute(
        select(
            DailyPrice.date,
            DailyPrice.open,
            DailyPrice.high,
            DailyPrice.low,
            DailyPrice.close,
            DailyPrice.volume,
        )
        .where(DailyPrice.ticker == ticker)
        .order_by(DailyPrice.date.desc())
        .limit(limit)
    ).all()
    return list(rows)[::-1]


# --- signals -------------------------------------------------------------------------------


def gen0_final_score(
    score: float, contraction: float, foreign_5d: float, inst_5d: float, fresh: bool
) -> float:
    """Gen0's ranking: 0.4·score + 0.3·(1−contraction)·100 + 2·min(flows/100k, 30) + 10 if today."""
    flows = min((foreign_5d + inst_5d) / 100_000, 30)
    value = 0.4 * score + 0.3 * (1 - contraction) * 100 + 2 * flows + (10 if fresh else 0)
    return round(value, 1)


def vcp_signal_item(signal: Signal, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    name, market = names.get(signal.ticker, ("", ""))
    payload = signal.payload or {}
    score = float(signal.score) if signal.score is not None else 0.0
    contraction = float(signal.contraction_ratio) if signal.contraction_ratio is not None else 1.0
    foreign = int(signal.foreign_5d or 0)
    inst = int(signal.inst_5d or 0)
    entry = float(signal.entry_price) if signal.entry_price is not None else 0.0
    return {
        "id": signal.id,
        "ticker": signal.ticker,
        "name": name or payload.get("name", ""),
        "market": market or payload.get("market", ""),
        "signal_date": signal.signal_date.isoformat(),
        "foreign_5d": foreign,
        "inst_5d": inst,
        "flow_unit": signal.flow_unit or "shares",
        "score": score,
        "contraction_ratio": contraction,
        "entry_price": entry,
        "current_price": float(signal.current_price) if signal.current_price else entry,
        "return_pct": float(signal.return_pct) if signal.return_pct is not None else 0.0,
        "status": signal.status,
        "final_score": gen0_final_score(
            score, contraction, foreign, inst, signal.signal_date == today_kst()
        ),
        "strategy": signal.strategy,
    }


def open_vcp_signals(session: Session, signal_date: date | None = None) -> list[Signal]:
    query = select(Signal).where(Signal.strategy.in_(VCP_STRATEGIES))
    if signal_date is not None:
        query = query.where(Signal.signal_date == signal_date)
    else:
        query = query.where(Signal.status == "OPEN")
    return list(session.scalars(query.order_by(Signal.score.desc().nulls_last(), Signal.id)))


def analyses_by_ticker(session: Session, pairs: list[tuple[str, date]]) -> dict[str, AIAnalysis]:
    """The newest analysis per (ticker, signal_date) pair, keyed by ticker."""
    if not pairs:
        return {}
    dates = {d for _, d in pairs}
    tickers = {t for t, _ in pairs}
    rows = session.scalars(
        select(AIAnalysis)
        .where(AIAnalysis.signal_date.in_(dates), AIAnalysis.ticker.in_(tickers))
        .order_by(AIAnalysis.generated_at.desc().nulls_last(), AIAnalysis.id.desc())
    )
    wanted = set(pairs)
    found: dict[str, AIAnalysis] = {}
    for row in rows:
        if (row.ticker, row.signal_date) in wanted and row.ticker not in found:
            found[row.ticker] = row
    return found


def analysis_fields(analysis: AIAnalysis) -> dict[str, Any]:
    """The kr_ai_analysis.json per-signal AI fields (§3.6) from one analysis row."""
    payload = analysis.payload or {}
    recs = analysis.recommendations or {}
    own = {
        "action": analysis.action or "N/A",
        "confidence": analysis.confidence or 0,
        "reason": analysis.reason or "",
        "source": analysis.analysis_source,
    }
    return {
        "fundamentals": analysis.fundamentals or payload.get("fundamentals", {}),
        "news": analysis.news or payload.get("news", []),
        "gpt_recommendation": recs.get("gpt") or payload.get("gpt_recommendation") or own,
        "gemini_recommendation": recs.get("gemini") or payload.get("gemini_recommendation") or own,
        "analysis_source": analysis.analysis_source,
        "ai_analysis": payload.get("ai_analysis") or analysis.reason,
    }


# --- market gate ---------------------------------------------------------------------------


def gate_snapshot(
    session: Session, on: date | None = None, policy: str = "monolith"
) -> MarketGateSnapshot | None:
    query = select(MarketGateSnapshot).where(MarketGateSnapshot.policy_name == policy)
    if on is not None:
        query = query.where(MarketGateSnapshot.date == on)
    return session.scalars(query.order_by(MarketGateSnapshot.date.desc()).limit(1)).first()


def gate_body(snapshot: MarketGateSnapshot) -> dict[str, Any]:
    """The /market-gate body (§2.1, checklist item 2), top-level index fields included."""
    metrics = finite(dict(snapshot.metrics or {}))
    sectors = [
        {**s, "signal": str(s.get("signal", "neutral")).lower()} for s in (snapshot.sectors or [])
    ]
    return {
        "status": snapshot.status,
        "score": int(snapshot.score),
        "label": snapshot.label,
        "reasons": list(snapshot.reasons or []),
        "sectors": finite(sectors),
        "metrics": metrics,
        "updated_at": iso(snapshot.created_at),
        "date": snapshot.date.isoformat(),
        "kospi_close": metrics.get("kospi_close", metrics.get("kospi")),
        "kospi_change_pct": metrics.get("kospi_change_pct"),
        "kosdaq_close": metrics.get("kosdaq_close", metrics.get("kosdaq")),
        "kosdaq_change_pct": metrics.get("kosdaq_change_pct"),
    }


def market_status(session: Session) -> tuple[int, dict[str, Any]]:
    """/api/kr/market-status: KODEX 200 (else Samsung) MA20/50/200 regime (§2.1)."""
    proxies = (("069500", "KODEX 200"), ("005930", "Samsung Elec"))
    any_price = session.execute(select(DailyPrice.ticker).limit(1)).first()
    if any_price is None:
        return 404, {"status": "UNKNOWN", "reason": "No price data"}
    for symbol, name in proxies:
        rows = session.execute(
            select(DailyPrice.date, DailyPrice.close)
            .where(DailyPrice.ticker == symbol)
            .order_by(DailyPrice.date.desc())
            .limit(200)
        ).all()
        if not rows:
            continue
        if len(rows) < 200:
            return 200, {"status": "NEUTRAL", "reason": "Insufficient data"}
        closes = [float(r.close) for r in rows]  # newest first
        price = closes[0]
        ma20 = sum(closes[:20]) / 20
        ma50 = sum(closes[:50]) / 50
        ma200 = sum(closes[:200]) / 200
        if price > ma200 and ma20 > ma50:
            status, score = "RISK_ON", 80
        elif price < ma200 and ma20 < ma50:
            status, score = "RISK_OFF", 20
        else:
            status, score = "NEUTRAL", 50
        return 200, {
            "status": status,
            "score": score,
            "current_price": price,
            "ma20": round(ma20, 2),
            "ma50": round(ma50, 2),
            "ma200": round(ma200, 2),
            "date": rows[0].date.isoformat(),
            "symbol": symbol,
            "name": name,
        }
    return 404, {"status": "UNKNOWN", "reason": "Market proxy data not found"}


# --- closing bet (jongga V2) ---------------------------------------------------------------


def closing_bet_dates(session: Session, limit: int = 400) -> list[date]:
    rows = session.execute(
        select(Signal.signal_date)
        .where(Signal.strategy.in_(CLOSING_BET_STRATEGIES))
        .group_by(Signal.signal_date)
        .order_by(Signal.signal_date.desc())
        .limit(limit)
    )
    return [r.signal_date for r in rows]


def _flat_checklist(item: dict[str, Any]) -> None:
    """Add the forks' flat checklist keys next to Gen1's nested ones (§3.7), when missing."""
    checklist = item.get("checklist") or {}
    mandatory = checklist.get("mandatory") or {}
    optional = checklist.get("optional") or {}
    news_items = item.get("news_items") or []
    item.setdefault("has_news", bool(mandatory.get("news", bool(news_items))))
    item.setdefault(
        "news_sources", [n.get("source", "") for n in news_items if isinstance(n, dict)]
    )
    item.setdefault("is_new_high", bool(optional.get("chart", False)))
    item.setdefault("is_breakout", bool(optional.get("chart", False)))
    item.setdefault("supply_positive", bool(optional.get("supply", False)))
    item.setdefault("volume_surge", bool(mandatory.get("volume", False)))


def jongga_item(signal: Signal, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    name, market = names.get(signal.ticker, ("", ""))
    item: dict[str, Any] = dict(signal.payload or {})
    breakdown = signal.score_breakdown or {}
    item.setdefault("id", None)
    item.setdefault("stock_code", signal.ticker)
    item.setdefault("stock_name", name)
    item.setdefault("market", market)
    item.setdefault("signal_date", signal.signal_date.isoformat())
    item.setdefault("grade", signal.grade)
    if "score" not in item or not isinstance(item.get("score"), dict):
        item["score"] = {**breakdown, "total": signal.score}
    item.setdefault("checklist", breakdown.get("checklist", {}))
    item.setdefault("entry_price", signal.entry_price)
    item.setdefault("stop_price", signal.stop_price)
    item.setdefault("target_price", signal.target_price)
    item.setdefault("quantity", signal.quantity)
    item.setdefault("position_size", signal.position_size)
    item.setdefault("foreign_5d", signal.foreign_5d)
    item.setdefault("inst_5d", signal.inst_5d)
    item.setdefault("status", "PENDING")
    item.setdefault("news_items", [])
    item.setdefault("themes", [])
    item.setdefault("sector", None)
    item.setdefault("current_price", signal.current_price or signal.entry_price)
    item.setdefault("signal_time", iso(signal.created_at))
    _flat_checklist(item)
    return item


def _grade_sort_key(item: dict[str, Any]) -> tuple[int, float]:
    score = item.get("score")
    total = score.get("total") if isinstance(score, dict) else score
    return GRADE_ORDER.get(str(item.get("grade")), 9), -float(total or 0)


def jongga_result(session: Session, on: date) -> dict[str, Any] | None:
    """The jongga_v2_results_YYYYMMDD.json body (§3.7) for one date, or None without signals."""
    signals = list(
        session.scalars(
            select(Signal).where(
                Signal.strategy.in_(CLOSING_BET_STRATEGIES), Signal.signal_date == on
            )
        )
    )
    if not signals:
        return None
    names = names_for(session, [s.ticker for s in signals])
    items = sorted((jongga_item(s, names) for s in signals), key=_grade_sort_key)
    by_grade = {"S": 0, "A": 0, "B": 0, "C": 0}
    by_market: dict[str, int] = {}  # only markets with signals, as the engine wrote it
    for item in items:
        grade = str(item.get("grade"))
        if grade in by_grade:
            by_grade[grade] += 1
        market = str(item.get("market") or "")
        if market:
            by_market[market] = by_market.get(market, 0) + 1
    run_counts: dict[str, Any] = {}
    run_id = next((s.run_id for s in signals if s.run_id), None)
    if run_id:
        row = session.execute(
            text("SELECT counts FROM scan_runs WHERE id = :id"), {"id": run_id}
        ).first()
        run_counts = dict(row.counts) if row and row.counts else {}
    updated = max((s.updated_at for s in signals if s.updated_at), default=None)
    return {
        "date": on.isoformat(),
        "total_candidates": int(run_counts.get("total_candidates", len(items))),
        "filtered_count": len(items),
        "signals": items,
        "by_grade": by_grade,
        "by_market": by_market,
        "processing_time_ms": float(run_counts.get("processing_time_ms", 0.0)),
        "updated_at": iso(updated),
    }


# --- performance ---------------------------------------------------------------------------


def performance_report(session: Session, strategies: tuple[str, ...]) -> dict[str, Any]:
    """SignalTracker.get_performance_report's fields (§3.5): the domain's one definition, fed
    with the strategy's signal rows (five narrow columns, one indexed query)."""
    from krstock.domain.tracking import TrackingPolicy, vcp_strategy_params
    from krstock.domain.tracking import performance_report as report
    from krstock.domain.vcp_legacy import VcpLegacyPolicy

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
