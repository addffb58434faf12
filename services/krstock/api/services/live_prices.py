"""Live price injection into signal items: ``current_price`` and ``return_pct`` of OPEN ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from krstock.api.infra.state import AppState
from krstock.app.prices import PriceQuote, current_prices


def quotes_for(state: AppState, session: Session, tickers: list[str]) -> dict[str, PriceQuote]:
    """Current prices from the configured source, through this app's cache."""
    api = state.api
    return current_prices(session, state.cache, tickers, api.cache_ttl_prices_s, api.price_source)


def inject_prices(state: AppState, session: Session, items: list[dict[str, Any]]) -> None:
    """Reprice the OPEN items that have an entry price; the others keep their stored values."""
    quotes = quotes_for(state, session, [i["ticker"] for i in items])
    for item in items:
        quote = quotes.get(item["ticker"])
        entry = float(item.get("entry_price") or 0)
        if quote is None or entry <= 0 or item.get("status") != "OPEN":
            continue
        item["current_price"] = quote.price
        item["return_pct"] = round((quote.price - entry) / entry * 100, 2)
