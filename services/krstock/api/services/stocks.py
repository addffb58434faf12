"""Stocks and their daily bars: names, chart bars and the monolith's stock-info body."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from krstock.api.services.serializers import finite
from krstock.db.models import DailyPrice, Stock

# Gen2 chart periods; Gen1 ignored ``period`` (the frontend sends 6mo) and served 300 bars.
CHART_PERIODS = {"1m": 30, "3m": 90, "6m": 180, "1y": 365}
CHART_DEFAULT_BARS = 300


def names_for(session: Session, tickers: list[str]) -> dict[str, tuple[str, str]]:
    """ticker → (name, market) for the given tickers (primary-key lookup)."""
    if not tickers:
        return {}
    rows = session.execute(
        select(Stock.ticker, Stock.name, Stock.market).where(Stock.ticker.in_(set(tickers)))
    )
    return {r.ticker: (r.name, r.market) for r in rows}


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


def has_any_price(session: Session) -> bool:
    return session.execute(select(DailyPrice.ticker).limit(1)).first() is not None


def chart(session: Session, ticker: str, period: str | None) -> tuple[int, dict[str, Any]]:
    """/api/kr/stock-chart: (status, body) with the bars of ``period`` (default 300)."""
    bars = price_history(session, ticker, CHART_PERIODS.get(period or "", CHART_DEFAULT_BARS))
    if not bars:
        # Gen1: no price data at all → "Price data not found"; else "Ticker not found".
        message = "Ticker not found" if has_any_price(session) else "Price data not found"
        return 404, {"error": message}
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
    return 200, {"ticker": ticker, "data": data}


def stock_info(session: Session, ticker: str) -> dict[str, Any] | None:
    """/api/stock/<ticker>: the stock and its last bar; None when neither exists."""
    row = session.get(Stock, ticker)
    if row is None and not price_history(session, ticker, 1):
        return None
    last = session.scalars(
        select(DailyPrice)
        .where(DailyPrice.ticker == ticker)
        .order_by(DailyPrice.date.desc())
        .limit(1)
    ).first()
    return {
        "ticker": ticker,
        "name": row.name if row else "",
        "sector": row.sector if row else None,
        "price": float(last.close) if last else None,
        "change": float(last.change) if last and last.change is not None else None,
        "change_pct": finite(last.change_pct) if last else None,
        "volume": int(last.volume) if last else None,
        "market_cap": None,
        "pe_ratio": None,
        "dividend_yield": None,
        "date": last.date.isoformat() if last else None,
    }
