"""AI analyses (LLM or rule-based): the newest per signal, the per-signal AI fields, lists."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from krstock.api.services.serializers import analysis_dict
from krstock.db.models import AIAnalysis, Signal

# Gen1's history "dates" are file basenames; /ai-history/<date> takes them back.
HISTORY_PREFIX = "kr_ai_analysis_"
HISTORY_DATES_SHOWN = 30


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


def attach_analyses(session: Session, items: list[dict[str, Any]]) -> None:
    """Add each signal item's AI fields, from the newest analysis of its (ticker, date)."""
    pairs = [(i["ticker"], date.fromisoformat(i["signal_date"])) for i in items]
    found = analyses_by_ticker(session, pairs)
    for item in items:
        if item["ticker"] in found:
            item.update(analysis_fields(found[item["ticker"]]))


def ai_summary(session: Session, ticker: str) -> dict[str, Any]:
    """/api/kr/ai-summary: the newest analysis of ``ticker`` and its signal's grade and score."""
    row = session.scalars(
        select(AIAnalysis)
        .where(AIAnalysis.ticker == ticker)
        .order_by(AIAnalysis.signal_date.desc(), AIAnalysis.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return {"ticker": ticker, "summary": None}
    signal = session.scalars(
        select(Signal)
        .where(Signal.ticker == ticker, Signal.signal_date == row.signal_date)
        .order_by(Signal.score.desc().nulls_last())
        .limit(1)
    ).first()
    payload = row.payload or {}
    return {
        "ticker": ticker,
        "summary": payload.get("ai_analysis") or row.reason,
        "grade": (signal.grade if signal else None) or payload.get("grade"),
        "score": (signal.score if signal else None) or payload.get("score"),
        "analysis_source": row.analysis_source,
    }


def history_dates(session: Session) -> list[str]:
    """Dates with analyses as Gen1 history names (``kr_ai_analysis_YYYYMMDD``), newest first."""
    rows = session.execute(
        select(AIAnalysis.signal_date)
        .group_by(AIAnalysis.signal_date)
        .order_by(AIAnalysis.signal_date.desc())
        .limit(HISTORY_DATES_SHOWN)
    )
    return [f"{HISTORY_PREFIX}{r.signal_date:%Y%m%d}" for r in rows]


def list_analyses(
    session: Session, day: date | None, ticker: str | None, source: str | None, limit: int
) -> list[dict[str, Any]]:
    """The analyzer service's list: newest signal date first."""
    query = select(AIAnalysis)
    if day:
        query = query.where(AIAnalysis.signal_date == day)
    if ticker:
        query = query.where(AIAnalysis.ticker == ticker)
    if source:
        query = query.where(AIAnalysis.analysis_source == source)
    rows = session.scalars(
        query.order_by(AIAnalysis.signal_date.desc(), AIAnalysis.id.desc()).limit(limit)
    )
    return [analysis_dict(r) for r in rows]
