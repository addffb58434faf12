"""Stocks, daily prices, investor flows and the market gate."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select, tuple_

from krstock.api.deps import READ_ACCESS, StateDep
from krstock.api.infra import validation
from krstock.api.infra.errors import ApiError
from krstock.api.infra.response_cache import cached, cached_async
from krstock.api.infra.responses import decode_cursor, page, select_fields
from krstock.api.infra.state import AppState
from krstock.api.routes.v1.docs import CURSOR, ERRORS, FIELDS, GATE_EXAMPLE, example, limit_query
from krstock.api.services.market import gate_body, gate_history, gate_snapshot
from krstock.api.services.serializers import flow_dict, price_dict, stock_dict
from krstock.db.models import DailyPrice, InvestorFlow, Stock

router = APIRouter(tags=["market data"], dependencies=[READ_ACCESS], responses=ERRORS)


def _stock_page(
    state: AppState,
    market: str | None,
    q: str | None,
    cursor: str | None,
    limit: int,
    fields: str | None,
) -> dict[str, Any]:
    after = decode_cursor(cursor, 1)
    query = select(Stock)
    if market:
        query = query.where(Stock.market == market.upper())
    if q:
        query = query.where(Stock.name.contains(q, autoescape=True) | (Stock.ticker == q))
    if after:
        query = query.where(Stock.ticker > str(after[0]))
    with state.session() as session:
        rows = list(session.scalars(query.order_by(Stock.ticker).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = select_fields([stock_dict(r) for r in rows], fields)
    return page(items, limit, [rows[-1].ticker] if more else None)


@router.get("/stocks", summary="The universe, by ticker")
async def stocks(
    request: Request,
    state: StateDep,
    market: Literal["KOSPI", "KOSDAQ", "KONEX"] | None = None,
    q: str | None = Query(default=None, max_length=40, description="name contains / ticker"),
    cursor: str | None = CURSOR,
    limit: int = limit_query(),
    fields: str | None = FIELDS,
) -> Response:
    return await cached_async(
        request,
        "stock",
        state.api.cache_ttl_stock_s,
        lambda: _stock_page(state, market, q, cursor, limit, fields),
        max_age=300,
    )


@router.get("/stocks/{ticker}", summary="One stock")
async def stock(request: Request, state: StateDep, ticker: str) -> Response:
    code = validation.ticker(ticker)

    def compute() -> dict[str, Any]:
        with state.session() as session:
            row = session.get(Stock, code)
            if row is None:
                raise ApiError(404, f"unknown ticker {code}")
            return stock_dict(row)

    return await cached_async(request, "stock", state.api.cache_ttl_stock_s, compute, max_age=300)


def _price_page(
    state: AppState,
    code: str,
    span: tuple[date | None, date | None],
    after: list[Any] | None,
    limit: int,
    fields: str | None,
) -> dict[str, Any]:
    start, end = span
    query = select(DailyPrice).where(DailyPrice.ticker == code)
    if start:
        query = query.where(DailyPrice.date >= start)
    if end:
        query = query.where(DailyPrice.date <= end)
    if after:
        query = query.where(DailyPrice.date < date.fromisoformat(str(after[0])))
    with state.session() as session:
        rows = list(session.scalars(query.order_by(DailyPrice.date.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = select_fields([price_dict(b) for b in rows], fields)
    return page(items, limit, [rows[-1].date.isoformat()] if more else None)


@router.get("/stocks/{ticker}/prices", summary="Daily OHLCV, newest first")
def prices(
    request: Request,
    state: StateDep,
    ticker: str,
    start: str | None = Query(default=None, max_length=10, examples=["2025-01-02"]),
    end: str | None = Query(default=None, max_length=10),
    cursor: str | None = CURSOR,
    limit: int = limit_query(100),
    fields: str | None = FIELDS,
) -> Response:
    code = validation.ticker(ticker)
    start_d = validation.optional_date(start, "start")
    end_d = validation.optional_date(end, "end")
    if start_d and end_d and start_d > end_d:
        raise ApiError(400, "start is after end")
    after = decode_cursor(cursor, 1)
    return cached(
        request,
        "prices",
        state.api.cache_ttl_prices_s,
        lambda: _price_page(state, code, (start_d, end_d), after, limit, fields),
        max_age=60,
    )


def _flow_page(
    state: AppState,
    code: str,
    investor: str | None,
    span: tuple[date | None, date | None],
    after: list[Any] | None,
    limit: int,
    fields: str | None,
) -> dict[str, Any]:
    start, end = span
    query = select(InvestorFlow).where(InvestorFlow.ticker == code)
    if investor:
        query = query.where(InvestorFlow.investor == investor)
    if start:
        query = query.where(InvestorFlow.date >= start)
    if end:
        query = query.where(InvestorFlow.date <= end)
    if after:
        query = query.where(
            tuple_(InvestorFlow.date, InvestorFlow.investor)
            < tuple_(date.fromisoformat(str(after[0])), str(after[1]))
        )
    order = (InvestorFlow.date.desc(), InvestorFlow.investor.desc())
    with state.session() as session:
        rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = select_fields([flow_dict(f) for f in rows], fields)
    key = [rows[-1].date.isoformat(), rows[-1].investor] if more else None
    return page(items, limit, key)


@router.get("/stocks/{ticker}/flows", summary="Daily net buying per investor (shares and KRW)")
def flows(
    request: Request,
    state: StateDep,
    ticker: str,
    investor: Literal["foreign", "institution", "individual", "other"] | None = None,
    start: str | None = Query(default=None, max_length=10),
    end: str | None = Query(default=None, max_length=10),
    cursor: str | None = CURSOR,
    limit: int = limit_query(100),
    fields: str | None = FIELDS,
) -> Response:
    code = validation.ticker(ticker)
    start_d = validation.optional_date(start, "start")
    end_d = validation.optional_date(end, "end")
    after = decode_cursor(cursor, 2)
    return cached(
        request,
        "prices",
        state.api.cache_ttl_prices_s,
        lambda: _flow_page(state, code, investor, (start_d, end_d), after, limit, fields),
        max_age=60,
    )


@router.get(
    "/market-gate",
    summary="The newest Market Gate (or ?date=)",
    responses=example(GATE_EXAMPLE),
)
async def market_gate(
    request: Request,
    state: StateDep,
    date: str | None = Query(default=None, max_length=10, examples=["2026-02-10"]),
    policy: str = Query(default="monolith", max_length=64),
) -> Response:
    on = validation.optional_date(date)

    def compute() -> dict[str, Any]:
        with state.session() as session:
            snapshot = gate_snapshot(session, on, policy)
            if snapshot is None:
                raise ApiError(
                    404,
                    "no market gate snapshot"
                    + (f" for {on.isoformat()}" if on else "")
                    + "; run `krstock scan market-gate`",
                )
            return {**gate_body(snapshot), "policy": snapshot.policy_name}

    return await cached_async(request, "gate", state.api.cache_ttl_gate_s, compute, max_age=60)


@router.get("/market-gate/history", summary="Market Gate colours and scores over time")
def market_gate_history(
    request: Request,
    state: StateDep,
    policy: str = Query(default="monolith", max_length=64),
    limit: int = limit_query(60),
) -> Response:
    def compute() -> dict[str, Any]:
        with state.session() as session:
            items = gate_history(session, policy, limit)
        return page(items, limit, None)

    return cached(request, "gate", state.api.cache_ttl_gate_s, compute, max_age=60)
