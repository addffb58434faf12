"""Serve a route's JSON through the Redis cache, with ETag and Cache-Control (``responses``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from krstock.api.infra.responses import json_response
from krstock.api.infra.state import get_state
from krstock.cache import dumps


def cache_key(request: Request) -> str:
    """The path and its sorted query (without ``api_key``): one entry per distinct question."""
    params = sorted((k, v) for k, v in request.query_params.multi_items() if k != "api_key")
    return f"v1:{request.url.path}?{urlencode(params)}"


def cached(
    request: Request,
    group: str,
    ttl_s: int,
    compute: Callable[[], Any],
    max_age: int = 30,
    key: str | None = None,
) -> Response:
    """``compute()`` through the cache (key: ``key``, else the request's ``cache_key``)."""
    state = get_state(request)
    body, _ = state.cache.get_or_compute(group, key or cache_key(request), ttl_s, compute)
    return json_response(request, body, max_age=max_age)


async def cached_async(
    request: Request,
    group: str,
    ttl_s: int,
    compute: Callable[[], Any],
    max_age: int = 30,
    key: str | None = None,
) -> Response:
    """``cached`` for async routes: a hit is one Redis GET on the event loop (no thread hop);
    a miss computes from the database in the thread pool."""
    state = get_state(request)
    key = key or cache_key(request)
    hit = state.cache.get(group, key)
    if hit is not None:
        return json_response(request, hit, max_age=max_age)
    body: bytes = await run_in_threadpool(lambda: dumps(compute()))
    state.cache.set(group, key, body, ttl_s)
    return json_response(request, body, max_age=max_age)
