"""Collection as a recorded run: a source's rows for a date range into the database."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from krstock.app.kinds import RunKind
from krstock.app.recorder import ProgressFn, finish_run, recorded_run
from krstock.marketdata.base import MarketDataSource


def run_collect(
    engine: Engine,
    *,
    start: date,
    end: date,
    source: str | MarketDataSource = "sample",
    tickers: list[str] | None = None,
    run_id: str | None = None,
    progress: ProgressFn | None = None,
    scanjob: str | None = None,
    source_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Collect [start, end] from ``source`` (a name from the registry or a source object)."""
    from krstock.ingest.collect import collect
    from krstock.marketdata.registry import get_source

    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    src = get_source(source, **(source_options or {})) if isinstance(source, str) else source
    with recorded_run(
        engine,
        kind=RunKind.COLLECT,
        day=end,
        run_id=run_id,
        params={"start": start.isoformat(), "end": end.isoformat(), "tickers": tickers},
        source=src.name,
        scanjob=scanjob,
        progress=progress,
    ) as run:
        summary = collect(engine, src, start, end, tickers=tickers, progress=run.progress)
        with Session(engine) as session, session.begin():
            finish_run(session, run.run_id, {"tables": summary.get("tables", {})})
    return {"kind": "collect", "run_id": run.run_id, **summary}
