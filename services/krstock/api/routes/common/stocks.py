"""/api stock routes: one stock's info and last bar, and realtime prices."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse, Response

from krstock.api.deps import READ_ACCESS, SessionDep, StateDep
from krstock.api.infra import validation
from krstock.api.services.live_prices import quotes_for
from krstock.api.services.stocks import stock_info

router = APIRouter()


@router.post("/realtime-prices", dependencies=[READ_ACCESS], summary="{prices: {ticker: price}}")
def realtime_prices(
    state: StateDep, session: SessionDep, body: dict[str, Any] | None = Body(default=None)
) -> JSONResponse:
    raw = (body or {}).get("tickers") or []
    market = (body or {}).get("market", "kr")
    if not isinstance(raw, list):
        return JSONResponse({"error": "tickers must be a list"}, status_code=400)
    if market != "kr":
        return JSONResponse({"error": f"market {market!r} is not served; use 'kr'"}, 400)
    codes = validation.tickers([str(t) for t in raw])
    quotes = quotes_for(state, session, codes)
    # The common route reports 0 for a failed lookup (the kr route drops it instead).
    return JSONResponse({"prices": {t: (quotes[t].price if t in quotes else 0) for t in codes}})


@router.get("/stock/{ticker}", dependencies=[READ_ACCESS], summary="Stock info and last bar")
def stock(state: StateDep, ticker: str, session: SessionDep) -> Any:
    code = validation.ticker(ticker)
    body, _ = state.cache.get_or_compute(
        "stock", f"info:{code}", state.api.cache_ttl_stock_s, lambda: stock_info(session, code)
    )
    if body == b"null":
        return JSONResponse({"error": f"unknown ticker {code}"}, status_code=404)
    return Response(content=body, media_type="application/json")
