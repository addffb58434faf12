"""Per-app shared resources: settings, the database engine, Redis, cache, limiter, registry.

Each FastAPI app owns one ``AppState`` (``app.state.krstock``); routes reach it through the
``StateDep``/``SessionDep`` dependencies of ``krstock.api.deps`` (``get_state`` underneath).
Tests build apps with an explicit database URL and Redis URL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection

from krstock.api.infra.client import ServiceClient
from krstock.api.infra.registry import ServiceRegistry
from krstock.cache import JsonCache, scoped_prefix
from krstock.config import ApiSection, Settings, get_settings
from krstock.db.session import configured_url, make_engine

log = logging.getLogger("krstock.api")


@dataclass
class AppState:
    service: str
    settings: Settings
    api: ApiSection
    engine: Engine
    redis: redis.Redis | None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        prefix = scoped_prefix(self.api.cache_prefix, self.engine.url)  # one database's keys
        self.cache = JsonCache(self.redis, prefix, self.api.cache_enabled)
        self.registry = ServiceRegistry(self.api)
        self.client = ServiceClient(self.registry, self.api)

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        self.client.close()
        self.engine.dispose()
        if self.redis is not None:
            self.redis.close()


def build_state(
    service: str,
    database_url: str | None = None,
    redis_url: str | None = None,
    settings: Settings | None = None,
    api_settings: ApiSection | None = None,
) -> AppState:
    settings = settings or get_settings()
    api = api_settings or settings.api
    engine = make_engine(database_url or configured_url(settings), settings)
    url = redis_url or settings.redis_url
    client = (
        redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5) if url else None
    )
    return AppState(service=service, settings=settings, api=api, engine=engine, redis=client)


def get_state(request: HTTPConnection) -> AppState:
    state: AppState = request.app.state.krstock
    return state
