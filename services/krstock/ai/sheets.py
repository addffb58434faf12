"""Fact sheets from our database: one signal's figures, that day's market gate, the stock's
news and filings dated on or before the signal date — and from a closing-bet candidate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from krstock.ai.facts import AMOUNT, NEWS_LOOKBACK_DAYS, FactSheet, SheetBuilder, end_of_day_kst
from krstock.ai.facts import usable_news as usable
from krstock.ai.tasks import FLOW_LABELS, SCORE_LABEL
from krstock.db.models import DailyPrice, MarketGateSnapshot, NewsItem, Signal, Stock

FILING_ORIGINS = ("dart", "opendart")


def stored_news(session: Session, ticker: str, day: date) -> list[dict[str, Any]]:
    """The ticker's stored news on or before ``day`` (KST end of day), newest first."""
    start = end_of_day_kst(day - timedelta(days=NEWS_LOOKBACK_DAYS + 1))
    rows = session.scalars(
        select(NewsItem)
        .where(
            NewsItem.ticker == ticker,
            NewsItem.published_at.is_not(None),
            NewsItem.published_at <= end_of_day_kst(day),
            NewsItem.published_at > start,
        )
        .order_by(NewsItem.published_at.desc(), NewsItem.credibility.desc().nulls_last())
        .limit(20)
    )
    return [
        {
            "title": r.title,
            "summary": r.summary,
            "source": r.source,
            "url": r.url,
            "published_at": r.published_at,
            "origin": r.origin,
        }
        for r in rows
    ]


def add_news(builder: SheetBuilder, items: Sequence[Mapping[str, Any]], day: date) -> None:
    news = [i for i in items if str(i.get("origin") or "") not in FILING_ORIGINS]
    filings = [i for i in items if str(i.get("origin") or "") in FILING_ORIGINS]
    for item in usable(news, day, limit=5):
        builder.news(item)
    for item in usable(filings, day, limit=3):
        builder.news(item, filing=True)


def signal_sheet(session: Session, signal: Signal, strategy: str) -> FactSheet:
    """The facts of one stored signal."""
    day = signal.signal_date
    stock = session.get(Stock, signal.ticker)
    payload = signal.payload or {}
    builder = SheetBuilder(signal.ticker, stock.name if stock else "", day, strategy)
    bar = session.get(DailyPrice, (signal.ticker, day))
    builder.figure("종가", bar.close if bar else signal.entry_price, "원")
    builder.figure("등락률", bar.change_pct if bar else payload.get("change_pct"), "%", 2)
    builder.figure("거래대금", bar.trading_value if bar else payload.get("trading_value"), AMOUNT)
    builder.figure(SCORE_LABEL, signal.score, "점", 1)
    builder.word("등급", signal.grade)
    builder.figure("수축 비율", signal.contraction_ratio, "", 2)
    unit = AMOUNT if signal.flow_unit == "krw" else "주"
    builder.figure(FLOW_LABELS[0], signal.foreign_5d, unit)
    builder.figure(FLOW_LABELS[1], signal.inst_5d, unit)
    gate = session.scalars(
        select(MarketGateSnapshot)
        .where(MarketGateSnapshot.date <= day)
        .order_by(MarketGateSnapshot.date.desc())
        .limit(1)
    ).first()
    if gate is not None and gate.date == day:
        builder.word("시장 게이트", f"{gate.status} ({gate.label})")
        builder.figure("시장 게이트 점수", gate.score, "점")
    else:
        builder.word("시장 게이트", None)
    add_news(builder, stored_news(session, signal.ticker, day), day)
    return builder.build()


def candidate_sheet(
    ticker: str,
    name: str,
    day: date,
    figures: Mapping[str, Any],
    news: Sequence[Mapping[str, Any]],
) -> FactSheet:
    """A closing-bet candidate's facts at scan time: its day's figures and its news."""
    builder = SheetBuilder(ticker, name, day, "closing-bet")
    builder.figure("등락률", figures.get("change_pct"), "%", 2)
    builder.figure("거래대금", figures.get("trading_value"), AMOUNT)
    builder.figure("뉴스 건수", len(usable(news, day, limit=5)), "건")
    add_news(builder, news, day)
    return builder.build()
