"""The gateway: the monolith's routes, /api/v1, and calls to the scanner/signals/analyzer."""

from __future__ import annotations

from fastapi import FastAPI

from krstock.api import web
from krstock.api.factory import create_service_app
from krstock.api.infra.events import CacheInvalidator
from krstock.api.infra.registry import SERVICES, HealthChecker
from krstock.api.infra.state import AppState
from krstock.api.routes import common, kr, v1


class _Background:
    """What the gateway runs beside requests: upstream health checks and cache invalidation."""

    def __init__(self, redis_url: str | None, listen_events: bool) -> None:
        self.redis_url = redis_url
        self.listen_events = listen_events
        self.checkers: list[HealthChecker] = []
        self.invalidator: CacheInvalidator | None = None

    def start(self, app: FastAPI) -> None:
        state: AppState = app.state.krstock
        if any(state.registry.is_remote(name) for name in SERVICES):
            self.checkers.append(HealthChecker(state.registry, timeout_s=1.0))
            self.checkers[-1].start()
        url = self.redis_url or state.settings.redis_url
        if self.listen_events and url and state.api.cache_enabled:
            self.invalidator = CacheInvalidator(url, state.cache)
            self.invalidator.start()
            state.extras["invalidator"] = self.invalidator

    def stop(self, app: FastAPI) -> None:
        for checker in self.checkers:
            checker.stop()
        if self.invalidator is not None:
            self.invalidator.stop()
            self.invalidator = None


def create_app(
    database_url: str | None = None,
    redis_url: str | None = None,
    state: AppState | None = None,
    listen_events: bool = True,
) -> FastAPI:
    background = _Background(redis_url, listen_events)
    app = create_service_app(
        "gateway",
        "krstock API",
        "The public API: the monolith's /api/kr/* and /api/* routes with their exact shapes, "
        "and /api/v1 (cursor pages, filters, fields=, ETags). Writes, triggers and admin routes "
        "need an API key (X-API-Key).",
        [kr.router, common.router, v1.router],
        state=state,
        database_url=database_url,
        redis_url=redis_url,
        on_startup=background.start,
        on_shutdown=background.stop,
    )
    web.install(app)  # the dashboard pages (clients of the routes above)
    return app
