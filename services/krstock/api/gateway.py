"""The gateway: the monolith's routes, /api/v1, and calls to the scanner/signals/analyzer."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request

from krstock.api import routes_legacy_common, routes_legacy_kr
from krstock.api.app import create_service_app
from krstock.api.events import CacheInvalidator
from krstock.api.ratelimit import rate_limit
from krstock.api.registry import SERVICES, HealthChecker
from krstock.api.routes_v1.router import router as v1_router
from krstock.api.security import require_admin
from krstock.api.state import AppState, get_state

log = logging.getLogger("krstock.api.gateway")


def admin_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[Depends(rate_limit)])

    # Internal addresses are not for anonymous readers: admin only.
    @r.get(
        "/services",
        summary="The service registry (admin key)",
        dependencies=[Depends(require_admin)],
    )
    def services(request: Request, check: bool = False) -> dict[str, Any]:
        state = get_state(request)
        if check:
            state.registry.check_health(timeout_s=state.api.upstream_timeout_s)
        described = state.registry.describe()
        for name, breaker in state.client.breakers.items():
            entry = described.get(name)
            if isinstance(entry, dict):
                entry["breaker"] = breaker.state
        return described

    @r.post("/admin/cache/invalidate", summary="Drop cache groups (admin key)")
    def invalidate(
        request: Request, group: str = "all", _: object = Depends(require_admin)
    ) -> dict[str, Any]:
        from krstock.api.cache import GROUPS

        groups = GROUPS if group == "all" else tuple(g for g in GROUPS if g == group)
        if not groups:
            from krstock.api.errors import ApiError

            raise ApiError(400, f"unknown cache group {group!r}; use all or {', '.join(GROUPS)}")
        return {"removed": get_state(request).cache.invalidate(*groups), "groups": list(groups)}

    return r


def create_app(
    database_url: str | None = None,
    redis_url: str | None = None,
    state: AppState | None = None,
    listen_events: bool = True,
) -> FastAPI:
    holder: dict[str, CacheInvalidator] = {}
    checkers: list[HealthChecker] = []

    def startup(app: FastAPI) -> None:
        app_state: AppState = app.state.krstock
        if any(app_state.registry.is_remote(name) for name in SERVICES):
            checkers.append(HealthChecker(app_state.registry, timeout_s=1.0))
            checkers[-1].start()
        url = redis_url or app_state.settings.redis_url
        if listen_events and url and app_state.api.cache_enabled:
            holder["invalidator"] = CacheInvalidator(url, app_state.cache)
            holder["invalidator"].start()
            app_state.extras["invalidator"] = holder["invalidator"]

    def shutdown(app: FastAPI) -> None:
        for checker in checkers:
            checker.stop()
        if "invalidator" in holder:
            holder.pop("invalidator").stop()

    return create_service_app(
        "gateway",
        "krstock API",
        "The public API: the monolith's /api/kr/* and /api/* routes with their exact shapes, "
        "and /api/v1 (cursor pages, filters, fields=, ETags). Writes, triggers and admin routes "
        "need an API key (X-API-Key).",
        [
            routes_legacy_kr.router(),
            routes_legacy_common.router(),
            v1_router(),
            admin_router(),
        ],
        state=state,
        database_url=database_url,
        redis_url=redis_url,
        on_startup=startup,
        on_shutdown=shutdown,
    )
