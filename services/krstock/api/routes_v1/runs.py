"""Runs: start a scan or the pipeline (write key), read status (by id or by ScanJob)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select, tuple_

from krstock.api import dispatch, validation
from krstock.api.client import UpstreamUnavailable
from krstock.api.errors import ApiError
from krstock.api.responses import decode_cursor, page, select_fields
from krstock.api.routes_v1.common import CURSOR, ERRORS, FIELDS, limit_query
from krstock.api.security import read_access, require_write
from krstock.api.state import get_state
from krstock.db.models import ScanRun

RunKindName = Literal[
    "vcp",
    "vcp_legacy",
    "trend_template",
    "closing_bet",
    "market_gate",
    "collect",
    "track",
    "analyze",
    "pipeline",
    "backtest",
]
SCANNER_KINDS = {"vcp", "vcp_legacy", "closing_bet", "market_gate"}


class RunRequest(BaseModel):
    kind: RunKindName = Field(description="what to run")
    date: str | None = Field(default=None, description="YYYY-MM-DD (default: latest data)")
    policy: str | None = Field(default=None, max_length=64, description="SignalPolicy name")
    scanjob: str | None = Field(
        default=None, max_length=253, pattern=r"^[a-z0-9-]+/[a-z0-9.-]+$", description="ns/name"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="extra task arguments")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"kind": "vcp_legacy", "date": "2026-02-10"},
                {"kind": "pipeline", "scanjob": "krstock/daily-scan"},
            ]
        }
    }


def _owner(body: RunRequest) -> tuple[str, str, dict[str, Any]] | None:
    """(service, path, payload) of the service that owns this kind of run, if any."""
    if body.params:
        return None  # extra task arguments are only understood by a direct dispatch
    if body.kind in SCANNER_KINDS:
        return (
            "scanner",
            "/scan",
            {
                "kind": body.kind,
                "date": body.date,
                "policy": body.policy,
                "scanjob": body.scanjob,
            },
        )
    if body.kind == "analyze":
        return "analyzer", "/analyze", {"date": body.date}
    return None


def router() -> APIRouter:
    r = APIRouter(tags=["runs"], responses=ERRORS)

    @r.post(
        "/runs",
        status_code=202,
        summary="Start a scan or the pipeline",
        responses={409: {"description": "a run of that kind is already active"}},
    )
    def start(
        request: Request, body: RunRequest, _: object = Depends(require_write)
    ) -> JSONResponse:
        state = get_state(request)
        if len(str(body.params)) > 4000:
            raise ApiError(400, "params are too large (4000 characters max)")
        allowed = dispatch.extra_params(body.kind)
        unknown = sorted(set(body.params) - set(allowed))
        if unknown:
            raise ApiError(
                400,
                f"unknown params for a {body.kind} run: {', '.join(unknown)}; "
                f"accepted: {', '.join(allowed) or 'none'}",
            )
        scan_date = validation.optional_date(body.date)
        # Scans belong to the scanner service, analyses to the analyzer, when they run on
        # their own: the gateway forwards the trigger (never retried: a POST is not idempotent).
        upstream_call = _owner(body)
        if upstream_call is not None and state.registry.is_remote(upstream_call[0]):
            service, path, payload = upstream_call
            headers = {k: request.headers[k] for k in ("x-api-key",) if k in request.headers}
            try:
                upstream = state.client.request(
                    service, "POST", path, json=payload, headers=headers
                )
            except UpstreamUnavailable as exc:
                raise ApiError(
                    503,
                    f"the {service} service is unavailable ({exc.reason}); nothing was started",
                ) from exc
            return JSONResponse(upstream.json(), status_code=upstream.status_code)
        run = dispatch.start_run(
            state.engine,
            body.kind,
            state.api.dispatch_mode,
            scan_date=scan_date,
            params=body.params,
            policy_name=body.policy,
            scanjob=body.scanjob,
            broker_url=state.settings.redis_url,
        )
        return JSONResponse(
            {"run_id": run.id, "status": run.status, "kind": run.kind},
            status_code=202,
            headers={"Location": f"/api/v1/runs/{run.id}"},
        )

    @r.get("/runs", summary="Runs, newest first", dependencies=[Depends(read_access)])
    def runs(
        request: Request,
        scanjob: str | None = Query(default=None, max_length=253, examples=["krstock/daily"]),
        kind: RunKindName | None = None,
        status: Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED"] | None = None,
        cursor: str | None = CURSOR,
        limit: int = limit_query(),
        fields: str | None = FIELDS,
    ) -> dict[str, Any]:
        after = decode_cursor(cursor, 2)
        query = select(ScanRun)
        if scanjob:
            query = query.where(ScanRun.scanjob == scanjob)
        if kind:
            query = query.where(ScanRun.kind.in_(dispatch.kind_aliases(kind)))
        if status:
            query = query.where(ScanRun.status == status)
        if after:
            try:
                when = datetime.fromisoformat(str(after[0]))
            except ValueError as exc:
                raise ApiError(400, "invalid cursor") from exc
            query = query.where(
                tuple_(ScanRun.created_at, ScanRun.id) < tuple_(when, str(after[1]))
            )
        with get_state(request).session() as session:
            rows = list(
                session.scalars(
                    query.order_by(ScanRun.created_at.desc(), ScanRun.id.desc()).limit(limit + 1)
                )
            )
        more = len(rows) > limit
        rows = rows[:limit]
        items = select_fields([dispatch.run_as_dict(x) for x in rows], fields)
        key = [rows[-1].created_at.isoformat(), rows[-1].id] if more else None
        return page(items, limit, key)

    @r.get("/runs/{run_id}", summary="One run", dependencies=[Depends(read_access)])
    def run(request: Request, run_id: str) -> dict[str, Any]:
        if len(run_id) > 64:
            raise ApiError(400, "run id is at most 64 characters")
        with get_state(request).session() as session:
            row = session.get(ScanRun, run_id)
            if row is None:
                raise ApiError(404, f"no run with id {run_id!r}")
            return dispatch.run_as_dict(row)

    return r
