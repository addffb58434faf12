"""Rate limits per client IP, per verified API key, and on failed authentications per client IP.

A key is counted only once its secret has verified: counting by the public prefix before that
would let anyone who knows a prefix lock its key out. Failed authentications count against the
address that sent them, which gets 429s (before any key lookup) once over its limit.

Two fixed windows (current and previous) weighted by overlap approximate a true sliding window in
one round trip. When Redis is unreachable the limiter lets requests through: the limit protects
the service, and refusing everything because the limiter is down would be the worse outage.
"""

from __future__ import annotations

import logging
import math
import time

from starlette.requests import HTTPConnection

from krstock.api.infra.errors import ApiError
from krstock.api.infra.metrics import RATE_LIMITED
from krstock.api.infra.state import get_state

log = logging.getLogger("krstock.api.infra.ratelimit")
_last_warning = 0.0


def client_ip(request: HTTPConnection) -> str:
    """The client's address: the socket peer, or behind a trusted proxy the last
    ``X-Forwarded-For`` entry (the one that proxy added; earlier ones are the client's say)."""
    if get_state(request).api.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()
    return request.client.host if request.client else "unknown"


def _count(
    request: HTTPConnection, scope: str, ident: str, window: int, add: bool
) -> tuple[float, float] | None:
    """The sliding-window estimate for ``scope:ident`` (after adding this request when ``add``)
    and the seconds left in the window; None when Redis is unavailable."""
    global _last_warning
    state = get_state(request)
    if state.redis is None:
        return None
    now = time.time()
    current = int(now // window)
    elapsed = now - current * window
    base = f"{state.api.rate_limit_prefix}:{state.service}:{scope}:{ident}"
    try:
        pipe = state.redis.pipeline(transaction=False)
        if add:
            pipe.incr(f"{base}:{current}")
            pipe.expire(f"{base}:{current}", window * 2)
        else:
            pipe.get(f"{base}:{current}")
        pipe.get(f"{base}:{current - 1}")
        *counts, previous = pipe.execute()
    except Exception as exc:  # the limiter failing must not take the API down
        if now - _last_warning > 30:
            _last_warning = now
            log.warning("rate limiter unavailable, letting requests through: %s", exc)
        return None
    estimate = int(previous or 0) * (1 - elapsed / window) + int(counts[0] or 0)
    return estimate, window - elapsed


def _refuse(scope: str, limit: int, window: int, left_s: float, what: str) -> ApiError:
    """A 429 naming the limit: ``what`` is e.g. "key: 3000 requests"."""
    RATE_LIMITED.labels(scope).inc()
    retry_after = max(1, math.ceil(left_s))
    return ApiError(
        429,
        f"rate limit exceeded for this {what} per {window} s; retry after {retry_after} s",
        "rate_limited",
        headers={"Retry-After": str(retry_after)},
    )


def check_limit(request: HTTPConnection, scope: str, ident: str, limit: int, window: int) -> None:
    counted = _count(request, scope, ident, window, add=True)
    if counted is not None and counted[0] > limit:
        raise _refuse(scope, limit, window, counted[1], f"{scope}: {limit} requests")


def limit_verified_key(request: HTTPConnection, prefix: str) -> None:
    """Counts a request against its key, once per request, after the secret has verified."""
    api = get_state(request).api
    marks = request.scope.setdefault("state", {})
    if not api.rate_limit_enabled or marks.get("rate_limited_key"):
        return
    marks["rate_limited_key"] = True
    check_limit(request, "key", prefix, api.rate_limit_per_key, api.rate_limit_window_s)


def refuse_if_failing(request: HTTPConnection) -> None:
    """429 for an address over its failed-authentication limit, before any key lookup."""
    api = get_state(request).api
    if not api.rate_limit_enabled:
        return
    window, limit = api.rate_limit_window_s, api.auth_failures_per_ip
    counted = _count(request, "auth_failure", client_ip(request), window, add=False)
    if counted is not None and counted[0] >= limit:
        what = f"address: {limit} failed API keys"
        raise _refuse("auth_failure", limit, window, counted[1], what)


def record_auth_failure(request: HTTPConnection) -> None:
    if get_state(request).api.rate_limit_enabled:
        window = get_state(request).api.rate_limit_window_s
        _count(request, "auth_failure", client_ip(request), window, add=True)


async def rate_limit(request: HTTPConnection) -> None:
    """Dependency on every API router (not on probes or /metrics): the per-IP limit. The
    per-key limit is counted by the key check, once the key has verified.

    Async on purpose: one pipelined round trip to a local Redis (well under a millisecond) is
    cheaper inline than a hop to the thread pool.
    """
    api = get_state(request).api
    if not api.rate_limit_enabled:
        return
    check_limit(request, "ip", client_ip(request), api.rate_limit_per_ip, api.rate_limit_window_s)
