"""Signals: filtered, cursor-paged lists; one signal; the newest day (via the signals service)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from krstock.api.deps import READ_ACCESS, StateDep
from krstock.api.infra import validation
from krstock.api.infra.client import UpstreamUnavailable
from krstock.api.infra.errors import ApiError
from krstock.api.infra.proxy import forward_headers, last_good, remember_good
from krstock.api.infra.response_cache import cache_key, cached, cached_async
from krstock.api.infra.responses import decode_cursor, json_response, page, select_fields
from krstock.api.infra.state import AppState
from krstock.api.routes.v1.docs import (
    CURSOR,
    ERRORS,
    FIELDS,
    PAGE_EXAMPLE,
    SIGNAL_EXAMPLE,
    example,
    limit_query,
)
from krstock.api.schemas import ReportedStrategy
from krstock.api.services.serializers import finite, signal_dict
from krstock.api.services.signal_lists import named_signals, signals_on
from krstock.api.services.stocks import names_for
from krstock.api.services.strategies import strategy_aliases
from krstock.db.models import Signal

router = APIRouter(tags=["signals"], dependencies=[READ_ACCESS], responses=ERRORS)
Status = Literal["OPEN", "CLOSED", "PENDING", "CANCELLED"]


def latest_signals(request: Request, state: AppState, strategy: str | None, limit: int) -> Response:
    """Proxied to the signals service when it is remote; served locally otherwise.

    When the service is down: the last good answer from the cache, else the database, both
    marked ``"stale": true``; 503 with the reason when neither answers.
    """
    params: dict[str, Any] = {"limit": limit}
    if strategy:
        params["strategy"] = strategy
    key = cache_key(request)
    if state.registry.is_remote("signals"):
        try:
            upstream = state.client.request(
                "signals",
                "GET",
                "/signals/latest",
                params=params,
                headers=forward_headers(request),
            )
        except UpstreamUnavailable as exc:
            return _degraded(request, state, key, strategy, limit, exc.reason)
        if upstream.status_code == 200:
            remember_good(state, "signals", key, upstream.content)
        return Response(
            content=upstream.content,
            status_code=upstream.status_code,
            media_type="application/json",
            headers={"X-Served-By": "signals"},
        )

    def compute() -> dict[str, Any]:
        with state.session() as session:
            return signals_on(session, None, strategy, limit)

    return cached(request, "signals", state.api.cache_ttl_signals_s, compute)


def _degraded(
    request: Request, state: AppState, key: str, strategy: str | None, limit: int, reason: str
) -> Response:
    headers = {"X-Served-By": "gateway-fallback"}
    good = last_good(state, "signals", key)
    if good is not None:
        body = orjson.loads(good)
        body.update(stale=True, stale_reason=f"signals service unavailable ({reason}); cached")
        return json_response(request, body, headers=headers)
    try:
        with state.session() as session:
            body = signals_on(session, None, strategy, limit)
    except Exception as exc:
        raise ApiError(
            503,
            f"signals service unavailable ({reason}) and the database cannot answer "
            f"({type(exc).__name__}); retry later",
        ) from exc
    body.update(stale=True, stale_reason=f"signals service unavailable ({reason}); from database")
    return json_response(request, body, headers=headers)


@router.get("/signals/latest", summary="The newest day's signals (from the signals service)")
def latest(
    request: Request,
    state: StateDep,
    strategy: ReportedStrategy | None = None,
    limit: int = Query(default=200, ge=1, le=1000),
) -> Response:
    return latest_signals(request, state, strategy, limit)


def _signal_page(
    state: AppState,
    filters: dict[str, Any],
    span: tuple[date | None, date | None],
    after: list[Any] | None,
    limit: int,
    fields: str | None,
) -> dict[str, Any]:
    query = select(Signal)
    if filters["strategy"]:
        query = query.where(Signal.strategy.in_(strategy_aliases(filters["strategy"])))
    if filters["status"]:
        query = query.where(Signal.status == filters["status"])
    if filters["ticker"]:
        query = query.where(Signal.ticker == filters["ticker"])
    if filters["grade"]:
        query = query.where(Signal.grade == filters["grade"])
    start, end = span
    if start:
        query = query.where(Signal.signal_date >= start)
    if end:
        query = query.where(Signal.signal_date <= end)
    if filters["min_score"] is not None:
        query = query.where(Signal.score >= filters["min_score"])
    if after:
        try:
            query = query.where(Signal.id < int(after[0]))
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "invalid cursor") from exc
    with state.session() as session:
        rows = list(session.scalars(query.order_by(Signal.id.desc()).limit(limit + 1)))
        items = named_signals(session, rows[:limit])
    next_key = [rows[limit - 1].id] if len(rows) > limit else None
    return page(select_fields(items, fields), limit, next_key)


@router.get(
    "/signals",
    summary="Signals, newest first, with filters",
    responses=example(PAGE_EXAMPLE),
)
async def signals(
    request: Request,
    state: StateDep,
    strategy: str | None = Query(default=None, max_length=32, examples=["closing_bet"]),
    status: Status | None = None,
    ticker: str | None = Query(default=None, max_length=6),
    grade: Literal["S", "A", "B", "C"] | None = None,
    date_from: str | None = Query(default=None, max_length=10),
    date_to: str | None = Query(default=None, max_length=10),
    min_score: float | None = Query(default=None, ge=0, le=1000),
    cursor: str | None = CURSOR,
    limit: int = limit_query(),
    fields: str | None = FIELDS,
) -> Response:
    filters = {
        "strategy": strategy,
        "status": status,
        "ticker": validation.ticker(ticker) if ticker else None,
        "grade": grade,
        "min_score": min_score,
    }
    span = (
        validation.optional_date(date_from, "date_from"),
        validation.optional_date(date_to, "date_to"),
    )
    after = decode_cursor(cursor, 1)
    return await cached_async(
        request,
        "signals",
        state.api.cache_ttl_signals_s,
        lambda: _signal_page(state, filters, span, after, limit, fields),
    )


@router.get(
    "/signals/{signal_id}",
    summary="One signal with its full strategy output",
    responses=example({**SIGNAL_EXAMPLE, "payload": {"stock_code": "005930"}}),
)
async def signal(request: Request, state: StateDep, signal_id: int) -> Response:
    if not 0 < signal_id < 2**63:
        raise ApiError(400, "signal id must be a positive 64-bit integer")

    def compute() -> dict[str, Any]:
        with state.session() as session:
            row = session.get(Signal, signal_id)
            if row is None:
                raise ApiError(404, f"no signal with id {signal_id}")
            names = names_for(session, [row.ticker])
            body = signal_dict(row, *names.get(row.ticker, (None, None)))
            body["payload"] = finite(row.payload or {})
            return body

    return await cached_async(request, "signals", state.api.cache_ttl_signals_s, compute)
