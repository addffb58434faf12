"""AI analysis of a day's signals: the top signals per strategy judged on their fact sheets by
Gemini when a key is configured, by the rule-based analyzer otherwise (docs/ai.md). The run's
counts say how many were analyzed, answered from the cache, rejected, and by which source."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from krstock.ai.daily import analyze_day
from krstock.app.kinds import RunKind, spellings
from krstock.app.recorder import ProgressFn, finish_run, recorded_run
from krstock.config import Settings, get_settings

# What `krstock analyze --strategy` names, and the signals.strategy spellings each reads.
ANALYZED_STRATEGIES: dict[str, tuple[str, ...]] = {
    "vcp": spellings(RunKind.VCP_LEGACY) + spellings(RunKind.VCP),
    "closing-bet": spellings(RunKind.CLOSING_BET),
}


def strategies_for(names: Sequence[str] | None) -> dict[str, tuple[str, ...]]:
    """The strategy labels to analyze (all by default); ValueError names an unknown one."""
    if not names:
        return dict(ANALYZED_STRATEGIES)
    unknown = [n for n in names if n not in ANALYZED_STRATEGIES]
    if unknown:
        raise ValueError(
            f"unknown strategy {unknown[0]!r}; expected one of {sorted(ANALYZED_STRATEGIES)}"
        )
    return {n: ANALYZED_STRATEGIES[n] for n in names}


def run_analysis(
    engine: Engine,
    *,
    day: date,
    run_id: str | None = None,
    progress: ProgressFn | None = None,
    scanjob: str | None = None,
    strategies: Sequence[str] | None = None,
    refresh: bool = False,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Analyze ``day``'s top signals and record the run; returns the analyze report."""
    settings = settings or get_settings()
    chosen = strategies_for(strategies)
    with recorded_run(
        engine,
        kind=RunKind.ANALYSIS,
        day=day,
        run_id=run_id,
        scanjob=scanjob,
        progress=progress,
        params={"strategies": list(chosen), "refresh": refresh},
    ) as run:
        report = analyze_day(engine, settings, day, chosen, refresh=refresh).as_dict()
        counts = {k: report[k] for k in ("analyzed", "cached", "rejected", "failed", "source")}
        with Session(engine) as session, session.begin():
            finish_run(session, run.run_id, counts)
    return {"kind": "ai-analysis", "run_id": run.run_id, **report}
