"""The signal engine service's routes: generate signals, read a day's (default: the newest)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from krstock.api.deps import RATE_LIMIT, READ_ACCESS, SessionDep, StateDep, WriteKey
from krstock.api.infra import validation
from krstock.api.schemas import GenerateRequest, Strategy
from krstock.api.services.runs import start_run
from krstock.api.services.signal_lists import signals_on

router = APIRouter(tags=["signals"], dependencies=[RATE_LIMIT])


@router.post("/generate", status_code=202, summary="Generate signals (one run per strategy)")
def generate_route(state: StateDep, body: GenerateRequest, _: WriteKey) -> dict[str, Any]:
    scan_date = validation.optional_date(body.date)
    runs = []
    for strategy in dict.fromkeys(body.strategies):
        run = start_run(state, strategy, scan_date=scan_date, policy_name=body.policy)
        runs.append({"run_id": run.id, "kind": run.kind, "status": run.status})
    return {"runs": runs}


@router.get("/signals/latest", summary="The newest day's signals", dependencies=[READ_ACCESS])
def latest(
    session: SessionDep,
    strategy: Strategy | None = None,
    limit: int = Query(default=200, ge=1, le=1000),
) -> dict[str, Any]:
    return signals_on(session, None, strategy, limit)


@router.get("/signals/{day}", summary="One day's signals", dependencies=[READ_ACCESS])
def on_day(
    day: str,
    session: SessionDep,
    strategy: Strategy | None = None,
    limit: int = Query(default=200, ge=1, le=1000),
) -> dict[str, Any]:
    return signals_on(session, validation.parse_date(day), strategy, limit)
