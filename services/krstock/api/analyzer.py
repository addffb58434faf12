"""The analyzer service: start AI (or rule-based) analyses and read them."""

from __future__ import annotations

from fastapi import FastAPI

from krstock.api.factory import create_service_app
from krstock.api.infra.state import AppState
from krstock.api.routes.internal import analyzer


def create_app(
    database_url: str | None = None, redis_url: str | None = None, state: AppState | None = None
) -> FastAPI:
    return create_service_app(
        "analyzer",
        "krstock analyzer",
        "Runs news + LLM (or rule-based) analyses of signals and serves them.",
        [analyzer.router],
        state=state,
        database_url=database_url,
        redis_url=redis_url,
    )
