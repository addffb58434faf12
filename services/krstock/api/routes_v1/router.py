"""``/api/v1``: the clean resource API (cursor pages, filters, fields=, ETags, one error body)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from krstock.api.ratelimit import rate_limit
from krstock.api.routes_v1 import analyses, market, performance, policies, runs, signals


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1", dependencies=[Depends(rate_limit)])
    for module in (market, signals, runs, analyses, performance, policies):
        r.include_router(module.router())
    return r
