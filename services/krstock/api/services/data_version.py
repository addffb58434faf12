"""/api/data-version: one version per former monolith data file, read from the database.

The later monolith answered the file's mtime, and its pages poll this every 15 s to refetch when
a number changes. A table has no mtime, so each file's version is the newest of what changes
when its data changes: the newest row timestamp of the dataset (``updated_at`` of its signals,
the analyses' generation time, the newest price date) and the finish time of the newest
successful run that writes it (a run that deletes rows leaves no newer row behind). Unix seconds,
as ``os.path.getmtime`` gave; 0 for a dataset with no data and no run yet (the file was missing).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from krstock.api.services.strategies import CLOSING_BET_STRATEGIES, VCP_STRATEGIES, strategy_in
from krstock.app.kinds import RunKind, spellings


def _kinds(*kinds: RunKind) -> tuple[str, ...]:
    return tuple(name for kind in kinds for name in spellings(kind))


def _runs(*kinds: RunKind) -> str:
    quoted = ", ".join("'" + name.replace("'", "''") + "'" for name in _kinds(*kinds))
    return (
        f"SELECT max(finished_at) FROM scan_runs WHERE status = 'SUCCEEDED' AND kind IN ({quoted})"
    )


# File name → SQL giving the newest moments (timestamptz) that change with the file's data.
DATASETS: dict[str, tuple[str, ...]] = {
    "jongga_v2_latest.json": (
        f"SELECT max(updated_at) FROM signals WHERE {strategy_in(CLOSING_BET_STRATEGIES)}",
        _runs(RunKind.CLOSING_BET, RunKind.TRACK),
    ),
    "signals_log.csv": (
        f"SELECT max(updated_at) FROM signals WHERE {strategy_in(VCP_STRATEGIES)}",
        _runs(RunKind.VCP_LEGACY, RunKind.TRACK),
    ),
    "daily_prices.csv": (
        # A price day counts from its midnight in Seoul; imports leave no run, only rows.
        "SELECT max(date)::timestamp AT TIME ZONE 'Asia/Seoul' FROM daily_prices",
        _runs(RunKind.COLLECT),
    ),
    "kr_ai_analysis.json": (
        "SELECT max(coalesce(generated_at, created_at)) FROM ai_analyses",
        _runs(RunKind.ANALYSIS),
    ),
    "daily_report.json": (_runs(RunKind.PIPELINE, RunKind.TRACK),),
}


def dataset_version(session: Session, queries: tuple[str, ...]) -> float:
    """The newest of the queries' moments in unix seconds (ms precision); 0 when none."""
    union = " UNION ALL ".join(f"({q})" for q in queries)
    newest = session.execute(text(f"SELECT extract(epoch FROM max(m)) FROM ({union}) AS t(m)"))
    value = newest.scalar()
    return round(float(value), 3) if value is not None else 0


def data_versions(session: Session) -> dict[str, Any]:
    """``{"versions": {file: unix seconds}, "timestamp": now}`` in the monolith's shape."""
    versions = {name: dataset_version(session, queries) for name, queries in DATASETS.items()}
    return {"versions": versions, "timestamp": round(time.time(), 3)}
