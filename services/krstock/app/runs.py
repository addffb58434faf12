"""The use cases the worker tasks, the CLI and the API call, under one import."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine

from krstock.app.analysis import run_analysis
from krstock.app.backtests import BACKTEST_STRATEGIES, run_backtest_over_db
from krstock.app.collect import run_collect
from krstock.app.gate import run_market_gate
from krstock.app.policies import PolicyLike
from krstock.app.recorder import ProgressFn, new_run_id
from krstock.app.scans import SCAN_KINDS, run_scan
from krstock.app.tracking import run_track


def run_backtest(
    engine: Engine,
    *,
    strategy: str,
    start: date,
    end: date,
    policy: PolicyLike = None,
    run_id: str | None = None,
    progress: ProgressFn | None = None,
    scanjob: str | None = None,
) -> dict[str, Any]:
    """A backtest of ``strategy`` (vcp, vcp-legacy, closing-bet) over [start, end]."""
    return run_backtest_over_db(
        engine,
        strategy=strategy,
        start=start,
        end=end,
        policy=policy,
        run_id=run_id,
        progress=progress,
        scanjob=scanjob,
    )


__all__ = [
    "BACKTEST_STRATEGIES",
    "SCAN_KINDS",
    "new_run_id",
    "run_analysis",
    "run_backtest",
    "run_collect",
    "run_market_gate",
    "run_scan",
    "run_track",
]
