"""The use cases the worker tasks, the CLI and the API call, under one import."""

from __future__ import annotations

from krstock.app.analysis import run_analysis
from krstock.app.backtests import BACKTEST_STRATEGIES, run_backtest
from krstock.app.collect import run_collect
from krstock.app.gate import run_market_gate
from krstock.app.recorder import new_run_id
from krstock.app.scans import SCAN_KINDS, run_scan
from krstock.app.tracking import run_track

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
