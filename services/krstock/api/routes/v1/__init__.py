"""``/api/v1``: the clean resource API (cursor pages, filters, fields=, ETags, one error body),
one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from krstock.api.deps import RATE_LIMIT
from krstock.api.routes.v1 import admin, analyses, market, performance, policies, runs, signals

router = APIRouter(prefix="/api/v1", dependencies=[RATE_LIMIT])
for resource in (market, signals, runs, analyses, performance, policies, admin):
    router.include_router(resource.router)
