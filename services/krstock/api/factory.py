"""The app factory every service shares: errors, middleware, probes, metrics, OpenAPI."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware

from krstock import __version__
from krstock.api import dispatch
from krstock.api.infra.docs import install_docs
from krstock.api.infra.errors import install_error_handlers
from krstock.api.infra.guard import RequestGuardMiddleware
from krstock.api.infra.middleware import RequestContextMiddleware
from krstock.api.infra.state import AppState, build_state
from krstock.api.routes import probes


def create_service_app(
    service: str,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    *,
    state: AppState | None = None,
    database_url: str | None = None,
    redis_url: str | None = None,
    on_startup: Callable[[FastAPI], None] | None = None,
    on_shutdown: Callable[[FastAPI], None] | None = None,
) -> FastAPI:
    """A FastAPI app for ``service`` with the shared middleware, errors and probes."""
    app_state = state or build_state(service, database_url=database_url, redis_url=redis_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            on_startup(app)
        # Objects alive after start-up (modules, routes, pools) leave the collector's view:
        # full collections then scan only request garbage, which keeps pauses out of p99.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if on_shutdown is not None:
                on_shutdown(app)
            # Runs started in this process finish (or are marked interrupted) before it exits.
            dispatch.finish_local_runs(app_state.engine, app_state.api.shutdown_grace_s)

    app = FastAPI(
        title=title,
        description=description,
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # install_docs adds them, with a CSP, unless docs_enabled is off
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.krstock = app_state
    app.state.service = service
    install_error_handlers(app)
    install_docs(app, app_state.api)
    app.include_router(probes.router)
    for router in routers:
        app.include_router(router)
    # Order: the outermost (added last) sees every request first. The guard is innermost, so
    # its 400/413 answers still carry the request id, security and CORS headers.
    app.add_middleware(RequestGuardMiddleware, api=app_state.api)
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=app_state.settings.api.cors_origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=[
            "Content-Type",
            "X-API-Key",
            "Authorization",
            "X-Request-ID",
            "If-None-Match",
        ],
        expose_headers=["X-Request-ID", "ETag", "Retry-After", "X-Next-Cursor"],
    )
    app.add_middleware(
        RequestContextMiddleware, service=service, hsts_max_age_s=app_state.api.hsts_max_age_s
    )
    return app
