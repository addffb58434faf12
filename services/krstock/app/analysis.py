"""AI analysis of new signals. No analyzer is wired in yet: the run records exactly that."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from krstock.app.kinds import RunKind
from krstock.app.recorder import ProgressFn, finish_run, recorded_run
from krstock.db.models import Signal

NO_ANALYZER = "no analyzer configured"


def run_analysis(
    engine: Engine,
    *,
    day: date,
    run_id: str | None = None,
    progress: ProgressFn | None = None,
    scanjob: str | None = None,
) -> dict[str, Any]:
    """Record that the day's signals were not analyzed because no analyzer exists yet.

    This is deliberately not a fake analysis: ``analyzed`` is 0 and the reason is stored on the
    run, so dashboards show the gap instead of invented recommendations.
    """
    with (
        recorded_run(
            engine,
            kind=RunKind.ANALYSIS,
            day=day,
            run_id=run_id,
            scanjob=scanjob,
            progress=progress,
        ) as run,
        Session(engine) as session,
        session.begin(),
    ):
        pending = session.scalar(
            select(func.count()).select_from(Signal).where(Signal.signal_date == day)
        )
        counts = {"signals": int(pending or 0), "analyzed": 0, "skipped_reason": NO_ANALYZER}
        finish_run(session, run.run_id, counts)
    return {"kind": "ai-analysis", "date": day.isoformat(), "run_id": run.run_id, **counts}
