"""A Redis JSON cache with TTLs per group and invalidation by group: the API serves from it and
the worker refreshes and invalidates it (so it sits below both, next to the database).

Values are stored as the serialized JSON bytes the route sends, so a hit costs one Redis GET and
no re-encoding. Any Redis failure is a miss (the caller computes from the database); a failing
cache never turns into an error for the client.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis
from prometheus_client import Counter
from sqlalchemy.engine import URL, make_url

log = logging.getLogger("krstock.cache")
CACHE = Counter("krstock_cache_requests_total", "Cache lookups", ["group", "outcome"])

GROUPS = ("stock", "signals", "prices", "gate", "misc")


def database_scope(database_url: str | URL) -> str:
    """A short identity of one database: a hash of its host, port and name (no user or
    password, so the API and the worker, which may log in differently, agree on it)."""
    url = make_url(database_url)
    identity = f"{url.host or ''}:{url.port or 5432}/{url.database or ''}"
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def scoped_prefix(prefix: str, database_url: str | URL) -> str:
    """``prefix`` tied to one database, so a Redis shared by several databases never serves
    one database's cached body (e.g. its Market Gate) for another."""
    return f"{prefix}:db-{database_scope(database_url)}"


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY)


class JsonCache:
    def __init__(self, client: redis.Redis | None, prefix: str, enabled: bool = True) -> None:
        self.client = client if enabled else None
        self.prefix = prefix
        self._warned = 0.0

    def _key(self, group: str, key: str) -> str:
        return f"{self.prefix}:{group}:{key}"

    def _warn(self, what: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned > 30:
            self._warned = now
            log.warning("cache %s failed, using the database: %s", what, exc)

    def get(self, group: str, key: str) -> bytes | None:
        if self.client is None:
            return None
        try:
            value = self.client.get(self._key(group, key))
        except Exception as exc:
            CACHE.labels(group, "error").inc()
            self._warn("read", exc)
            return None
        CACHE.labels(group, "hit" if value is not None else "miss").inc()
        return value if isinstance(value, bytes) else None

    def get_many(self, group: str, keys: list[str]) -> list[bytes | None]:
        """One MGET for many keys; all misses when Redis fails."""
        if self.client is None or not keys:
            return [None] * len(keys)
        try:
            values = self.client.mget([self._key(group, k) for k in keys])
        except Exception as exc:
            CACHE.labels(group, "error").inc()
            self._warn("read", exc)
            return [None] * len(keys)
        out = [v if isinstance(v, bytes) else None for v in values]  # type: ignore[union-attr]
        hits = sum(v is not None for v in out)
        CACHE.labels(group, "hit").inc(hits)
        CACHE.labels(group, "miss").inc(len(out) - hits)
        return out

    def set(self, group: str, key: str, body: bytes, ttl_s: int) -> None:
        if self.client is None:
            return
        try:
            self.client.set(self._key(group, key), body, ex=max(1, ttl_s))
        except Exception as exc:
            self._warn("write", exc)

    def get_or_compute(
        self, group: str, key: str, ttl_s: int, compute: Callable[[], Any]
    ) -> tuple[bytes, bool]:
        """The cached JSON bytes, or ``compute()`` serialized and stored; returns (body, hit)."""
        cached = self.get(group, key)
        if cached is not None:
            return cached, True
        body = dumps(compute())
        self.set(group, key, body, ttl_s)
        return body, False

    def invalidate(self, *groups: str) -> int:
        """Drop every entry of ``groups``; returns how many keys went."""
        if self.client is None:
            return 0
        removed = 0
        try:
            for group in groups:
                batch: list[Any] = []
                for name in self.client.scan_iter(match=f"{self.prefix}:{group}:*", count=500):
                    batch.append(name)
                    if len(batch) >= 500:
                        removed += int(self.client.delete(*batch))  # type: ignore[arg-type]
                        batch = []
                if batch:
                    removed += int(self.client.delete(*batch))  # type: ignore[arg-type]
        except Exception as exc:
            self._warn("invalidate", exc)
        return removed


# Which cache groups each platform event makes stale.
EVENT_INVALIDATES: dict[str, tuple[str, ...]] = {
    "SignalCreated": ("signals",),
    "VCPSignalDetected": ("signals",),
    "SignalClosed": ("signals",),
    "SignalUpdated": ("signals",),
    "AIAnalysisCompleted": ("signals",),
    "MarketStatusChanged": ("gate",),
    "MarketGateUpdated": ("gate",),
    "MarketDataUpdated": ("prices", "stock", "gate"),
    "ScanCompleted": ("signals", "gate"),
}


def invalidate_for_event(cache: JsonCache, event_type: str) -> int:
    groups = EVENT_INVALIDATES.get(event_type, ())
    return cache.invalidate(*groups) if groups else 0
