"""AI analyses (LLM or rule-based; ``analysis_source`` says which)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from krstock.api.deps import READ_ACCESS, StateDep
from krstock.api.infra import validation
from krstock.api.infra.errors import ApiError
from krstock.api.infra.responses import decode_cursor, page, select_fields
from krstock.api.routes.v1.docs import CURSOR, ERRORS, FIELDS, limit_query
from krstock.api.services.serializers import analysis_dict
from krstock.db.models import AIAnalysis

router = APIRouter(tags=["analyses"], dependencies=[READ_ACCESS], responses=ERRORS)


@router.get("/analyses", summary="Analyses, newest first")
def analyses(
    state: StateDep,
    ticker: str | None = Query(default=None, max_length=6),
    date: str | None = Query(default=None, max_length=10),
    source: str | None = Query(default=None, max_length=32, examples=["rules"]),
    action: str | None = Query(default=None, pattern="^(BUY|HOLD|SELL|N/A)$"),
    cursor: str | None = CURSOR,
    limit: int = limit_query(),
    fields: str | None = FIELDS,
) -> dict[str, Any]:
    after = decode_cursor(cursor, 1)
    query = select(AIAnalysis)
    if ticker:
        query = query.where(AIAnalysis.ticker == validation.ticker(ticker))
    if date:
        query = query.where(AIAnalysis.signal_date == validation.parse_date(date))
    if source:
        query = query.where(AIAnalysis.analysis_source == source)
    if action:
        query = query.where(AIAnalysis.action == action)
    if after:
        try:
            query = query.where(AIAnalysis.id < int(after[0]))
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "invalid cursor") from exc
    with state.session() as session:
        rows = list(session.scalars(query.order_by(AIAnalysis.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = select_fields([_listed(x) for x in rows], fields)
    return page(items, limit, [rows[-1].id] if more else None)


def _listed(row: AIAnalysis) -> dict[str, Any]:
    """An analysis with how it came about: the strategy, whether a model answer passed every
    check (``grounded``), the status (accepted, rejected, failed, over_budget, ...) and why."""
    payload = row.payload or {}
    return {
        **analysis_dict(row),
        "strategy": payload.get("strategy"),
        "grounded": bool(payload.get("grounded", False)),
        "status": payload.get("status"),
        "note": payload.get("note"),
    }


@router.get("/analyses/{analysis_id}", summary="One analysis")
def analysis(state: StateDep, analysis_id: int) -> dict[str, Any]:
    if not 0 < analysis_id < 2**63:
        raise ApiError(400, "analysis id must be a positive 64-bit integer")
    with state.session() as session:
        row = session.get(AIAnalysis, analysis_id)
        if row is None:
            raise ApiError(404, f"no analysis with id {analysis_id}")
        body = _listed(row)
        body["payload"] = row.payload or {}
        return body
