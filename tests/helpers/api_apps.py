"""Build API apps on a test database (no mocks: a real PostgreSQL database, real Redis)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session

from krstock.api import analyzer, gateway, scanner, signals
from krstock.api.infra.apikeys import create_key
from krstock.api.infra.state import AppState, build_state
from krstock.config import Settings

FACTORIES = {
    "gateway": gateway.create_app,
    "scanner": scanner.create_app,
    "signals": signals.create_app,
    "analyzer": analyzer.create_app,
}


@dataclass
class Built:
    app: FastAPI
    state: AppState
    keys: dict[str, str] = field(default_factory=dict)


def make_keys(state: AppState, prefix: str = "test") -> dict[str, str]:
    """One key per scope (read, write, admin), named ``<prefix>-<scope>-<random>``."""
    tag = uuid.uuid4().hex[:6]
    keys = {}
    with Session(state.engine) as session:
        for scope in ("read", "write", "admin"):
            keys[scope] = create_key(session, f"{prefix}-{scope}-{tag}", scope)[0]
        session.commit()
    return keys


def build_app(
    service: str,
    database_url: str,
    redis_url: str | None,
    *,
    settings: dict[str, Any] | None = None,
    api: dict[str, Any] | None = None,
) -> Built:
    """An app for ``service`` with its own cache prefix; the caller closes ``state``."""
    tag = uuid.uuid4().hex[:8]
    options: dict[str, Any] = {
        "cache_prefix": f"krstock:test:{tag}:cache",
        "rate_limit_prefix": f"krstock:test:{tag}:rl",
        "rate_limit_per_ip": 1_000_000,
        "rate_limit_per_key": 1_000_000,
        "price_source": "db",
    }
    options.update(api or {})
    state = build_state(
        service,
        database_url,
        redis_url,
        settings=Settings(database_url=database_url, redis_url=redis_url, **(settings or {})),
        api_settings=Settings(**options).api,
    )
    factory: Any = FACTORIES[service]
    kwargs: dict[str, Any] = {"state": state}
    if service == "gateway":
        kwargs["listen_events"] = False
    return Built(factory(**kwargs), state)
