"""The monolith's portfolio views, served from the open VCP signals (the wave-transition
portfolio was not migrated; ``source`` says so)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from krstock.api.infra.state import AppState
from krstock.api.services.closing_bet import GRADE_ORDER, newest_grades
from krstock.api.services.live_prices import inject_prices
from krstock.api.services.stocks import names_for
from krstock.api.services.vcp_signals import SIGNALS_SHOWN, open_vcp_signals, vcp_signal_item

NOT_SERVED = {"count": 0, "top_grade": None, "message": "not served by krstock"}


def portfolio_summary(session: Session) -> dict[str, Any]:
    """Counts per market: open VCP tickers and the best grade of the newest closing bets."""
    open_rows = open_vcp_signals(session)
    grades = newest_grades(session)
    top_grade = min(grades, key=lambda g: GRADE_ORDER.get(g, 9)) if grades else None
    return {
        "kr_market": {"count": len({r.ticker for r in open_rows}), "top_grade": top_grade},
        "us_market": dict(NOT_SERVED),
        "crypto": dict(NOT_SERVED),
    }


def portfolio(state: AppState, session: Session, today: date) -> dict[str, Any]:
    """The top open VCP signals at live prices, in the old portfolio shape."""
    rows = open_vcp_signals(session)
    names = names_for(session, [r.ticker for r in rows])
    items = [vcp_signal_item(r, names, today) for r in rows[:SIGNALS_SHOWN]]
    inject_prices(state, session, items)
    holdings = [_holding(i) for i in items]
    priced = [h["return_pct"] for h in holdings if h["return_pct"] is not None]
    avg = round(sum(priced) / len(priced), 2) if priced else 0
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
        "holdings_distribution": _distribution(items),
        "top_holdings": holdings,
        "style_box": {},
        "performance": [],
        "latest_date": max((i["signal_date"] for i in items), default=None),
        "source": "open VCP signals (the wave-transition portfolio is not migrated)",
    }


def _holding(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "ticker": item["ticker"],
        "name": item["name"],
        "price": item["current_price"],
        "recommendation_price": item["entry_price"],
        "return_pct": item["return_pct"],
        "price_status": item["price_status"],
        "score": item["score"],
        "grade": None,
        "wave": None,
        "sd_stage": None,
        "inst_trend": None,
        "ytd": None,
    }


def _distribution(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    markets: dict[str, int] = {}
    for item in items:
        market = item["market"] or "UNKNOWN"
        markets[market] = markets.get(market, 0) + 1
    return [{"label": k, "value": v, "color": None} for k, v in sorted(markets.items())]
