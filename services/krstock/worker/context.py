"""Per-process resources the tasks share: settings, the DB engine, Redis, the event broker.

Created lazily on first use and dropped after a fork (prefork children must not share sockets).
Without ``KRSTOCK_REDIS_URL`` (the laptop demo, eager mode) Redis is in-process (fakeredis), and
the context says so in ``redis_mode``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import Engine

from krstock.bus.redis_streams import RedisStreamBroker
from krstock.config import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    settings: Settings
    _engine: Engine | None = None
    _redis: redis.Redis | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    redis_mode: str = "unset"

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                from krstock.db.session import configured_url, make_engine

                self._engine = make_engine(configured_url(self.settings), self.settings)
            return self._engine

    @property
    def redis(self) -> redis.Redis:
        with self._lock:
            if self._redis is None:
                self._redis = make_redis(self.settings.redis_url)
                self.redis_mode = "redis" if self.settings.redis_url else "in-process"
            return self._redis

    @property
    def broker(self) -> RedisStreamBroker:
        worker = self.settings.worker
        return RedisStreamBroker(
            self.redis, prefix=worker.redis_prefix, maxlen=worker.bus_stream_maxlen
        )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._redis = None


_FAKE_SERVER: Any = None


def make_redis(url: str | None) -> redis.Redis:
    """A client for ``url``; without one, the process-wide in-process Redis (fakeredis)."""
    if url:
        return redis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=15
        )
    global _FAKE_SERVER
    import fakeredis

    if _FAKE_SERVER is None:
        _FAKE_SERVER = fakeredis.FakeServer()
        log.info("KRSTOCK_REDIS_URL is not set: using in-process Redis (fakeredis)")
    return fakeredis.FakeRedis(server=_FAKE_SERVER)


_CONTEXT: WorkerContext | None = None


def get_context() -> WorkerContext:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = WorkerContext(get_settings())
    return _CONTEXT


def set_context(context: WorkerContext | None) -> None:
    """Install a context (tests, ``run daily``), or drop the current one (after a fork)."""
    global _CONTEXT
    if _CONTEXT is not None and context is not _CONTEXT:
        _CONTEXT.close()
    _CONTEXT = context
