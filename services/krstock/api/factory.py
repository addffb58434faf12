"""The app factory every service shares: errors, middleware, probes, metrics, OpenAPI."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from krstock import __version__
from krstock.api import dispatch
from krstock.api.errors import install_error_handlers
from krstock.api.metrics import metrics_response
from krstock.api.middleware import RequestContextMiddleware
from krstock.api.state import AppState, build_state, get_state


def _check_ready(state: AppState) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    ok = True
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        ok = False
        checks["database"] = f"unavailable: {type(exc).__name__}"
    if state.redis is None:
        checks["redis"] = "not configured"
    else:
        try:
            state.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            ok = False
            checks["redis"] = f"unavailable: {type(exc).__name__}"
    return ok, checks


def probe_router(service: str) -> APIRouter:
    router = APIRouter(tags=["probes"])

    @router.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service, "version": __version__}

    @router.get(
        "/ready",
        summary="Readiness: the database and Redis answer",
        responses={503: {"description": "a dependency is down"}},
    )
    async def ready(request: Request) -> JSONResponse:
        ok, checks = await run_in_threadpool(_check_ready, get_state(request))
        body = {"status": "ready" if ok else "not_ready", "service": service, "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        return metrics_response(request)

    return router


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
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
    )
    app.state.krstock = app_state
    install_error_handlers(app)
    app.include_router(probe_router(service))
    for router in routers:
        app.include_router(router)
    # Order: the outermost (added last) sees every request first.
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=app_state.settings.cors_origins,
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
    app.add_middleware(RequestContextMiddleware, service=service)
    return app
