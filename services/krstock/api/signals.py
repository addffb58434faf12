"""The signal engine service: generate signals, read the latest day's or a given day's."""

from __future__ import annotations

from fastapi import FastAPI

from krstock.api.factory import create_service_app
from krstock.api.infra.state import AppState
from krstock.api.routes.internal import signals


def create_app(
    database_url: str | None = None, redis_url: str | None = None, state: AppState | None = None
) -> FastAPI:
    return create_service_app(
        "signals",
        "krstock signal engine",
        "Generates VCP and closing-bet signals and serves them by day.",
        [signals.router],
        state=state,
        database_url=database_url,
        redis_url=redis_url,
    )
