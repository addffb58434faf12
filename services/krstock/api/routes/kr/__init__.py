"""The monolith's ``/api/kr/*`` routes (monolith.md §2.1), served from the database.

Shapes, status codes and quirks are the contract: a bare array from ``/jongga-v2/dates``, a flat
map from ``POST /realtime-prices``, top-level KOSPI/KOSDAQ fields in ``/market-gate``, both date
forms in ``/jongga-v2/history/<date>``. Errors keep the monolith's ``{"error": "<str>"}``.
"""

from __future__ import annotations

from fastapi import APIRouter

from krstock.api.deps import RATE_LIMIT
from krstock.api.routes.kr import ai, chatbot, closing_bet, market, performance, pipeline, signals

router = APIRouter(prefix="/api/kr", tags=["monolith /api/kr"], dependencies=[RATE_LIMIT])
for area in (market, signals, ai, performance, pipeline, chatbot, closing_bet):
    router.include_router(area.router)
