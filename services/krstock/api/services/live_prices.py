"""Live price injection into signal items: ``current_price`` and ``return_pct`` of OPEN ones."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from krstock.api.infra.state import AppState
from krstock.app.prices import PriceQuote, current_prices, mark_to_market


def quotes_for(state: AppState, session: Session, tickers: list[str]) -> dict[str, PriceQuote]:
    """Current prices from the configured source, through this app's cache."""
    api = state.api
    return current_prices(session, state.cache, tickers, api.cache_ttl_prices_s, api.price_source)


def inject_prices(state: AppState, session: Session, items: list[dict[str, Any]]) -> None:
    """Reprice the OPEN items by ``mark_to_market``: a price older than the signal leaves
    ``current_price``/``return_pct`` null with ``price_status: "missing"``. Other items keep
    their stored values."""
    quotes = quotes_for(state, session, [i["ticker"] for i in items])
    for item in items:
        if item.get("status") != "OPEN":
            continue
        signal_day = date.fromisoformat(item["signal_date"])
        entry = float(item.get("entry_price") or 0)
        item.update(mark_to_market(entry, signal_day, quotes.get(item["ticker"])).fields())
