"""Routes the later monolith serves and its pages call: ``/api/data-version`` (polled every 15 s
to refetch on change), ``/api/kr/vcp-history`` and ``/api/kr/vcp-stats`` (the VCP ledger)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from krstock.api.deps import READ_ACCESS, SessionDep
from krstock.api.infra import validation
from krstock.api.services.clock import today_kst
from krstock.api.services.data_version import data_versions
from krstock.api.services.vcp_history import vcp_history, vcp_stats

router = APIRouter()
INCLUDE_FLAGGED = Query(
    default=False,
    description="count imported rows flagged as impossible (left out by default)",
)


@router.get(
    "/data-version",
    dependencies=[READ_ACCESS],
    summary="A version per former data file; changes when that data changes",
)
def data_version(session: SessionDep) -> JSONResponse:
    # Polled to detect changes: never answered from a cache on the way.
    return JSONResponse(data_versions(session), headers={"Cache-Control": "no-store"})


@router.get("/kr/vcp-history", dependencies=[READ_ACCESS], summary="VCP signals of the last N days")
def history(
    session: SessionDep,
    days: int = Query(default=30, ge=1, le=3660, description="calendar days up to `end`"),
    end: str | None = Query(
        default=None, max_length=10, description="the window's last day (default: today, KST)"
    ),
    include_flagged: bool = INCLUDE_FLAGGED,
) -> dict[str, Any]:
    last = validation.optional_date(end, "end") or today_kst()
    return vcp_history(session, days, last, include_flagged)


@router.get("/kr/vcp-stats", dependencies=[READ_ACCESS], summary="Totals of the VCP ledger")
def stats(session: SessionDep, include_flagged: bool = INCLUDE_FLAGGED) -> dict[str, Any]:
    return vcp_stats(session, include_flagged)
