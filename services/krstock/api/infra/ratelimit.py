"""Rate limits per API key and per client IP: a sliding-window counter in Redis.

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
from krstock.api.infra.security import presented_key
from krstock.api.infra.state import get_state

log = logging.getLogger("krstock.api.infra.ratelimit")
_last_warning = 0.0


def client_ip(request: HTTPConnection) -> str:
    if get_state(request).api.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def check_limit(request: HTTPConnection, scope: str, ident: str, limit: int, window: int) -> None:
    global _last_warning
    state = get_state(request)
    if state.redis is None:
        return
    now = time.time()
    current = int(now // window)
    elapsed = now - current * window
    base = f"{state.api.rate_limit_prefix}:{state.service}:{scope}:{ident}"
    try:
        pipe = state.redis.pipeline(transaction=False)
        pipe.incr(f"{base}:{current}")
        pipe.expire(f"{base}:{current}", window * 2)
        pipe.get(f"{base}:{current - 1}")
        count, _, previous = pipe.execute()
    except Exception as exc:  # the limiter failing must not take the API down
        if now - _last_warning > 30:
            _last_warning = now
            log.warning("rate limiter unavailable, letting requests through: %s", exc)
        return
    estimate = int(previous or 0) * (1 - elapsed / window) + int(count)
    if estimate > limit:
        RATE_LIMITED.labels(scope).inc()
        retry_after = max(1, math.ceil(window - elapsed))
        raise ApiError(
            429,
            f"rate limit exceeded for this {scope}: {limit} requests per {window} s; "
            f"retry after {retry_after} s",
            "rate_limited",
            headers={"Retry-After": str(retry_after)},
        )


async def rate_limit(request: HTTPConnection) -> None:
    """Dependency on every API router (not on probes or /metrics).

    Async on purpose: one pipelined round trip to a local Redis (well under a millisecond) is
    cheaper inline than a hop to the thread pool.
    """
    api = get_state(request).api
    if not api.rate_limit_enabled:
        return
    window = api.rate_limit_window_s
    check_limit(request, "ip", client_ip(request), api.rate_limit_per_ip, window)
    key = presented_key(request)
    if key:
        # The public prefix identifies the key; an unknown key still counts against its prefix.
        ident = key.split("_")[1] if key.count("_") >= 2 else "malformed"
        check_limit(request, "key", ident[:16], api.rate_limit_per_key, window)
