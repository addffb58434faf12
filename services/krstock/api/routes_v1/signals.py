"""Signals: filtered, cursor-paged lists; one signal; the newest day (via the signals service)."""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from krstock.api import queries, validation
from krstock.api.client import UpstreamUnavailable
from krstock.api.errors import ApiError
from krstock.api.responses import decode_cursor, json_response, page, select_fields
from krstock.api.routes_v1.common import (
    CURSOR,
    ERRORS,
    FIELDS,
    PAGE_EXAMPLE,
    SIGNAL_EXAMPLE,
    cache_key,
    cached,
    cached_async,
    example,
    limit_query,
)
from krstock.api.security import read_access
from krstock.api.serializers import signal_dict
from krstock.api.signals import signals_on
from krstock.api.state import AppState, get_state
from krstock.db.models import Signal

Status = Literal["OPEN", "CLOSED", "PENDING", "CANCELLED"]


def latest_signals(request: Request, strategy: str | None, limit: int) -> Response:
    """Proxied to the signals service when it is remote; served locally otherwise.

    When the service is down: the last good answer from the cache, else the database, both
    marked ``"stale": true``; 503 with the reason when neither answers.
    """
    state = get_state(request)
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
                headers=_forward_headers(request),
            )
        except UpstreamUnavailable as exc:
            return _degraded(request, state, key, strategy, limit, exc.reason)
        if upstream.status_code == 200 and _due(state, key):
            # The last good answer, for when the service is down (refreshed every 10 s at most).
            state.cache.set("signals", "good:" + key, upstream.content, 24 * 3600)
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


def _due(state: AppState, key: str, every_s: float = 10.0) -> bool:
    stamps: dict[str, float] = state.extras.setdefault("last_good_saved", {})
    now = time.monotonic()
    if now - stamps.get(key, -1e9) < every_s:
        return False
    stamps[key] = now
    return True


def _forward_headers(request: Request) -> dict[str, str]:
    headers = {"X-Request-ID": str(getattr(request.state, "request_id", ""))}
    for name in ("x-api-key", "authorization"):
        if name in request.headers:
            headers[name] = request.headers[name]
    return headers


def _degraded(
    request: Request, state: AppState, key: str, strategy: str | None, limit: int, reason: str
) -> Response:
    headers = {"X-Served-By": "gateway-fallback"}
    last_good = state.cache.get("signals", "good:" + key)
    if last_good is not None:
        body = orjson.loads(last_good)
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


def router() -> APIRouter:
    r = APIRouter(tags=["signals"], dependencies=[Depends(read_access)], responses=ERRORS)

    @r.get("/signals/latest", summary="The newest day's signals (from the signals service)")
    def latest(
        request: Request,
        strategy: Literal["vcp", "vcp_legacy", "closing_bet", "trend_template"] | None = None,
        limit: int = Query(default=200, ge=1, le=1000),
    ) -> Response:
        return latest_signals(request, strategy, limit)

    @r.get(
        "/signals",
        summary="Signals, newest first, with filters",
        responses=example(PAGE_EXAMPLE),
    )
    async def signals(
        request: Request,
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
        code = validation.ticker(ticker) if ticker else None
        start = validation.optional_date(date_from, "date_from")
        end = validation.optional_date(date_to, "date_to")
        after = decode_cursor(cursor, 1)
        state = get_state(request)

        def compute() -> dict[str, Any]:
            query = select(Signal)
            if strategy:
                query = query.where(Signal.strategy.in_(queries.strategy_aliases(strategy)))
            if status:
                query = query.where(Signal.status == status)
            if code:
                query = query.where(Signal.ticker == code)
            if grade:
                query = query.where(Signal.grade == grade)
            if start:
                query = query.where(Signal.signal_date >= start)
            if end:
                query = query.where(Signal.signal_date <= end)
            if min_score is not None:
                query = query.where(Signal.score >= min_score)
            if after:
                try:
                    query = query.where(Signal.id < int(after[0]))
                except (TypeError, ValueError) as exc:
                    raise ApiError(400, "invalid cursor") from exc
            with state.session() as session:
                rows = list(session.scalars(query.order_by(Signal.id.desc()).limit(limit + 1)))
                names = queries.names_for(session, [x.ticker for x in rows])
            more = len(rows) > limit
            rows = rows[:limit]
            items = [signal_dict(x, *names.get(x.ticker, (None, None))) for x in rows]
            return page(select_fields(items, fields), limit, [rows[-1].id] if more else None)

        return await cached_async(request, "signals", state.api.cache_ttl_signals_s, compute)

    @r.get(
        "/signals/{signal_id}",
        summary="One signal with its full strategy output",
        responses=example({**SIGNAL_EXAMPLE, "payload": {"stock_code": "005930"}}),
    )
    async def signal(request: Request, signal_id: int) -> Response:
        if not 0 < signal_id < 2**63:
            raise ApiError(400, "signal id must be a positive 64-bit integer")
        state = get_state(request)

        def compute() -> dict[str, Any]:
            with state.session() as session:
                row = session.get(Signal, signal_id)
                if row is None:
                    raise ApiError(404, f"no signal with id {signal_id}")
                names = queries.names_for(session, [row.ticker])
                body = signal_dict(row, *names.get(row.ticker, (None, None)))
                body["payload"] = queries.finite(row.payload or {})
                return body

        return await cached_async(request, "signals", state.api.cache_ttl_signals_s, compute)

    return r
