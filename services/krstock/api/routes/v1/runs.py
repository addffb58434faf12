"""Runs: start a scan or the pipeline (write key), read status (by id or by ScanJob)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, tuple_

from krstock.api import dispatch
from krstock.api.deps import READ_ACCESS, StateDep, WriteKey
from krstock.api.infra import validation
from krstock.api.infra.client import UpstreamUnavailable
from krstock.api.infra.errors import ApiError
from krstock.api.infra.responses import decode_cursor, page, select_fields
from krstock.api.infra.state import AppState
from krstock.api.routes.v1.docs import CURSOR, ERRORS, FIELDS, limit_query
from krstock.api.schemas import RunKindName, RunRequest
from krstock.api.services.runs import run_summary, start_run
from krstock.app.kinds import RUN_ID_MAX
from krstock.db.models import ScanRun

router = APIRouter(tags=["runs"], responses=ERRORS)
SCANNER_KINDS = {"vcp", "vcp_legacy", "closing_bet", "market_gate"}
PARAMS_MAX_CHARS = 4000


def _owner(body: RunRequest) -> tuple[str, str, dict[str, Any]] | None:
    """(service, path, payload) of the service that owns this kind of run, if any."""
    if body.params:
        return None  # extra task arguments are only understood by a direct dispatch
    if body.kind in SCANNER_KINDS:
        payload = {"kind": body.kind, "date": body.date, "policy": body.policy}
        return "scanner", "/scan", {**payload, "scanjob": body.scanjob}
    if body.kind == "analyze":
        return "analyzer", "/analyze", {"date": body.date}
    return None


def _check_params(body: RunRequest) -> None:
    if len(str(body.params)) > PARAMS_MAX_CHARS:
        raise ApiError(400, "params are too large (4000 characters max)")
    allowed = dispatch.extra_params(body.kind)
    unknown = sorted(set(body.params) - set(allowed))
    if unknown:
        raise ApiError(
            400,
            f"unknown params for a {body.kind} run: {', '.join(unknown)}; "
            f"accepted: {', '.join(allowed) or 'none'}",
        )


def _forward(
    request: Request, state: AppState, owner: tuple[str, str, dict[str, Any]]
) -> JSONResponse:
    """The owning service starts the run (never retried: a POST is not idempotent)."""
    service, path, payload = owner
    headers = {k: request.headers[k] for k in ("x-api-key",) if k in request.headers}
    try:
        upstream = state.client.request(service, "POST", path, json=payload, headers=headers)
    except UpstreamUnavailable as exc:
        raise ApiError(
            503, f"the {service} service is unavailable ({exc.reason}); nothing was started"
        ) from exc
    return JSONResponse(upstream.json(), status_code=upstream.status_code)


@router.post(
    "/runs",
    status_code=202,
    summary="Start a scan or the pipeline",
    responses={409: {"description": "a run of that kind is already active"}},
)
def start(request: Request, state: StateDep, body: RunRequest, _: WriteKey) -> JSONResponse:
    _check_params(body)
    scan_date = validation.optional_date(body.date)
    # Scans belong to the scanner service, analyses to the analyzer, when they run on
    # their own: the gateway forwards the trigger.
    owner = _owner(body)
    if owner is not None and state.registry.is_remote(owner[0]):
        return _forward(request, state, owner)
    run = start_run(
        state,
        body.kind,
        scan_date=scan_date,
        params=body.params,
        policy_name=body.policy,
        scanjob=body.scanjob,
    )
    return JSONResponse(
        run_summary(run), status_code=202, headers={"Location": f"/api/v1/runs/{run.id}"}
    )


@router.get("/runs", summary="Runs, newest first", dependencies=[READ_ACCESS])
def runs(
    state: StateDep,
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
        query = query.where(tuple_(ScanRun.created_at, ScanRun.id) < tuple_(when, str(after[1])))
    order = (ScanRun.created_at.desc(), ScanRun.id.desc())
    with state.session() as session:
        rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = select_fields([dispatch.run_as_dict(x) for x in rows], fields)
    key = [rows[-1].created_at.isoformat(), rows[-1].id] if more else None
    return page(items, limit, key)


@router.get("/runs/{run_id}", summary="One run", dependencies=[READ_ACCESS])
def run(state: StateDep, run_id: str) -> dict[str, Any]:
    if len(run_id) > RUN_ID_MAX:
        raise ApiError(400, f"run id is at most {RUN_ID_MAX} characters")
    with state.session() as session:
        row = session.get(ScanRun, run_id)
        if row is None:
            raise ApiError(404, f"no run with id {run_id!r}")
        return dispatch.run_as_dict(row)
