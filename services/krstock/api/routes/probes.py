"""Every service's probes: liveness, readiness (database and Redis) and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from krstock import __version__
from krstock.api.deps import StateDep
from krstock.api.infra.metrics import metrics_response
from krstock.api.infra.state import AppState

router = APIRouter(tags=["probes"])


def _service(request: Request) -> str:
    name: str = request.app.state.service
    return name


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


@router.get("/health", summary="Liveness: the process answers")
async def health(request: Request) -> dict[str, str]:
    return {"status": "ok", "service": _service(request), "version": __version__}


@router.get(
    "/ready",
    summary="Readiness: the database and Redis answer",
    responses={503: {"description": "a dependency is down"}},
)
async def ready(request: Request, state: StateDep) -> JSONResponse:
    ok, checks = await run_in_threadpool(_check_ready, state)
    body = {
        "status": "ready" if ok else "not_ready",
        "service": _service(request),
        "checks": checks,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return metrics_response(request)
