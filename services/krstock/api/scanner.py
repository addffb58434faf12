"""The scanner service: start scans, read their signals, stream a run's progress."""

from __future__ import annotations

from fastapi import FastAPI

from krstock.api.factory import create_service_app
from krstock.api.infra.state import AppState
from krstock.api.routes.internal import scanner


def create_app(
    database_url: str | None = None, redis_url: str | None = None, state: AppState | None = None
) -> FastAPI:
    return create_service_app(
        "scanner",
        "krstock scanner",
        "Starts VCP, closing-bet and market-gate scans and serves their signals.",
        [scanner.router],
        state=state,
        database_url=database_url,
        redis_url=redis_url,
    )
