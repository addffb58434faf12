"""Backtests over the database: replay the same scan code day by day, then the tracker."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from krstock.app.finite import finite
from krstock.app.policies import PolicyLike, resolve_policy
from krstock.app.recorder import ProgressFn, finish_run, recorded_run
from krstock.app.scans import FLOW_DAYS
from krstock.db.reader import load_market_window, load_series, trading_days
from krstock.domain.backtest import ScanFn, closing_bet_scan
from krstock.domain.backtest import run_backtest as replay_backtest
from krstock.domain.flows import analyze_market_flows
from krstock.domain.market import MarketWindow
from krstock.domain.policy import SignalPolicy
from krstock.domain.trend_template import evaluate_trend_template
from krstock.domain.vcp import detect_vcp_window, vcp_rows
from krstock.domain.vcp_legacy import scan_legacy_signals
from krstock.marketdata.base import KOSPI

BACKTEST_STRATEGIES = ("vcp", "vcp-legacy", "closing-bet")
LOOKBACK_DAYS = 260  # history each replayed day's scan sees


def _recent(window: MarketWindow) -> MarketWindow:
    """Only the lookback the scan needs: keeps each replayed day as cheap as a live scan."""
    n = window.shape[1]
    return window.columns(slice(max(0, n - LOOKBACK_DAYS), n))


def scan_function(strategy: str, policy: SignalPolicy) -> ScanFn:
    """The live scan code of ``strategy`` as a function of the window known on a day."""
    if strategy == "vcp-legacy":

        def legacy(window: MarketWindow) -> list[dict[str, Any]]:
            w = _recent(window)
            flows = analyze_market_flows(w, policy.flows, "shares")
            return [s.as_row() for s in scan_legacy_signals(w, flows, policy.vcp_legacy)]

        return legacy
    if strategy == "vcp":

        def vcp(window: MarketWindow) -> list[dict[str, Any]]:
            w = _recent(window)
            trend = evaluate_trend_template(w.close, w.high, w.low, policy.trend_template)
            result = detect_vcp_window(w, policy.vcp, trend)
            day = str(w.dates[-1].astype("datetime64[D]"))
            return [r for r in vcp_rows(result, w.tickers, day) if r["status"] == "breakout"]

        return vcp
    if strategy == "closing-bet":
        inner = closing_bet_scan(policy.closing_bet)
        return lambda window: inner(_recent(window))
    raise ValueError(
        f"unknown backtest strategy {strategy!r}; expected one of {', '.join(BACKTEST_STRATEGIES)}"
    )


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
    """A backtest of ``strategy`` on [start, end] (plus the lookback before start)."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    resolved = resolve_policy(policy)
    scan = scan_function(strategy, resolved)
    with recorded_run(
        engine,
        kind="backtest",
        day=end,
        run_id=run_id,
        params={"strategy": strategy, "start": start.isoformat(), "end": end.isoformat()},
        policy_name=resolved.name,
        scanjob=scanjob,
        progress=progress,
    ) as run:
        with engine.connect() as conn:
            replay = trading_days(conn, end, 10_000)
            replay = replay[replay >= start]
            if len(replay) == 0:
                raise LookupError(f"no trading days with prices in [{start}, {end}]")
            # Exits after `end` need a few rows more; they are read only if already in the DB.
            window = load_market_window(
                conn, end, len(replay) + LOOKBACK_DAYS, flow_days=len(replay) + FLOW_DAYS
            )
            benchmark = load_series(conn, [KOSPI], end, len(replay) + 1)[KOSPI]
        run.progress(20, f"backtest {strategy}: {len(replay)} days")
        result = replay_backtest(
            window,
            scan,
            strategy=strategy,
            exit_rule="closing_bet" if strategy == "closing-bet" else "vcp",
            tracking=resolved.tracking,
            start=start,
            end=end,
            benchmark=benchmark if len(benchmark.close) else None,
        )
        with Session(engine) as session, session.begin():
            finish_run(
                session, run.run_id, {"summary": result["summary"], "trades": len(result["trades"])}
            )
    # Metrics of an empty or flat backtest (a Sharpe ratio without variance) are null, not NaN.
    return finite({"kind": "backtest", "run_id": run.run_id, "policy": resolved.name, **result})
