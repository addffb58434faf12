"""Gateway → service calls: the headers a proxied read forwards, and the last good answer kept
for when the service is down (refreshed at most every 10 s per question)."""

from __future__ import annotations

import time

from fastapi import Request

from krstock.api.infra.state import AppState

LAST_GOOD_KEEP_S = 24 * 3600
LAST_GOOD_EVERY_S = 10.0
_LAST_GOOD = "good:"


def forward_headers(request: Request) -> dict[str, str]:
    """The request id and the caller's credentials, for the service to check them itself."""
    headers = {"X-Request-ID": str(getattr(request.state, "request_id", ""))}
    for name in ("x-api-key", "authorization"):
        if name in request.headers:
            headers[name] = request.headers[name]
    return headers


def _due(state: AppState, key: str) -> bool:
    stamps: dict[str, float] = state.extras.setdefault("last_good_saved", {})
    now = time.monotonic()
    if now - stamps.get(key, -1e9) < LAST_GOOD_EVERY_S:
        return False
    stamps[key] = now
    return True


def remember_good(state: AppState, group: str, key: str, body: bytes) -> None:
    """Keep ``body`` as the last good answer to ``key`` (at most every 10 s)."""
    if _due(state, key):
        state.cache.set(group, _LAST_GOOD + key, body, LAST_GOOD_KEEP_S)


def last_good(state: AppState, group: str, key: str) -> bytes | None:
    return state.cache.get(group, _LAST_GOOD + key)
