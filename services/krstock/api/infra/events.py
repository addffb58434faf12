"""Cache invalidation by platform events: the gateway tails the event streams (no group).

Every gateway replica reads every event (XREAD from "$", fan-out) and drops the cache groups an
event makes stale (new signals → signals; a gate change → gate). TTLs bound staleness anyway.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis

from krstock.cache import EVENT_INVALIDATES, JsonCache, invalidate_for_event

log = logging.getLogger("krstock.api.infra.events")
STREAM_PREFIX = "krstock:events:"


class CacheInvalidator:
    def __init__(self, redis_url: str, cache: JsonCache, block_ms: int = 1000) -> None:
        self.client = redis.Redis.from_url(redis_url, socket_timeout=block_ms / 1000 + 2)
        self.cache = cache
        self.block_ms = block_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cache-invalidator", daemon=True)
        self.handled = 0
        self._streams: dict[str, str] = {}

    def start(self) -> None:
        """Pin each stream's current end now, so that every event published after ``start``
        returns is seen (a bare "$" would only mean "after the first read call")."""
        self._streams = {}
        for event_type in EVENT_INVALIDATES:
            key = STREAM_PREFIX + event_type
            try:
                last: Any = self.client.xrevrange(key, count=1)
            except redis.RedisError:
                last = []
            ident = last[0][0] if last else b"0-0"
            self._streams[key] = ident.decode() if isinstance(ident, bytes) else str(ident)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.block_ms / 1000 + 3)
        self.client.close()

    def _loop(self) -> None:
        streams = self._streams
        while not self._stop.is_set():
            try:
                replies: Any = self.client.xread(
                    streams,  # type: ignore[arg-type]
                    block=self.block_ms,
                    count=100,
                )
            except redis.RedisError as exc:
                log.warning("event stream read failed (%s); retrying", exc)
                self._stop.wait(2.0)
                continue
            for stream, entries in replies or []:
                name = stream.decode() if isinstance(stream, bytes) else str(stream)
                if entries:
                    last_id = entries[-1][0]
                    streams[name] = last_id.decode() if isinstance(last_id, bytes) else last_id
                    invalidate_for_event(self.cache, name[len(STREAM_PREFIX) :])
                    self.handled += len(entries)
