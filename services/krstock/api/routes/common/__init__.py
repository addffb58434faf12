"""The monolith's ``common`` blueprint (monolith.md §2.2), served from the database.

Data status reports tables instead of files (same shape); the SSE update streams start real
pipeline runs and stream their progress from ``scan_runs``.
"""

from __future__ import annotations

from fastapi import APIRouter

from krstock.api.deps import RATE_LIMIT
from krstock.api.routes.common import backtest, compat, portfolio, runs, stocks, system

router = APIRouter(prefix="/api", tags=["monolith /api"], dependencies=[RATE_LIMIT])
for area in (backtest, system, stocks, portfolio, runs, compat):
    router.include_router(area.router)
