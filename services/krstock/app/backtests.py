"""Backtests over the database: replay the same scan code day by day, then the tracker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from krstock.app import catalogue
from krstock.app.catalogue import BACKTEST_KINDS, Strategy
from krstock.app.finite import finite
from krstock.app.kinds import RunKind, parse_kind
from krstock.app.policies import PolicyLike, resolve_policy
from krstock.app.recorder import ProgressFn, finish_run, recorded_run
from krstock.db.reader import load_market_window, load_series, trading_days
from krstock.domain.backtest import ScanFn
from krstock.domain.backtest import run_backtest as replay_backtest
from krstock.domain.market import MarketWindow, SeriesWindow
from krstock.domain.policy import SignalPolicy
from krstock.marketdata.base import KOSPI


@dataclass(frozen=True)
class ReplayInputs:
    """What a replay of [start, end] reads: the market window with each strategy's lookback
    before ``start``, and KOSPI over the replayed days (None when not stored)."""

    days: int
    window: MarketWindow
    benchmark: SeriesWindow | None


def replay_inputs(conn: Connection, live: Strategy, start: date, end: date) -> ReplayInputs:
    replay = trading_days(conn, end, 10_000)
    replay = replay[replay >= start]
    if len(replay) == 0:
        raise LookupError(f"no trading days with prices in [{start}, {end}]")
    # Exits after `end` need a few rows more; they are read only if already in the DB.
    window = load_market_window(
        conn, end, len(replay) + live.lookback_days, flow_days=len(replay) + live.flow_days
    )
    benchmark = load_series(conn, [KOSPI], end, len(replay) + 1)[KOSPI]
    return ReplayInputs(len(replay), window, benchmark if len(benchmark.close) else None)


def scan_function(strategy: str | RunKind, policy: SignalPolicy) -> ScanFn:
    """The live scan of ``strategy`` as a function of the window known on a day: the
    catalogue's strategy object, keeping the rows that open trades."""
    kind = parse_kind(strategy, BACKTEST_KINDS, what="backtest strategy")
    live = catalogue.strategy(kind)
    return lambda window: [dict(row) for row in live.entries(window, policy)]


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
    kind = parse_kind(strategy, BACKTEST_KINDS, what="backtest strategy")
    live = catalogue.strategy(kind)
    scan = scan_function(kind, resolved)
    with recorded_run(
        engine,
        kind="backtest",
        day=end,
        run_id=run_id,
        params={"strategy": str(kind), "start": start.isoformat(), "end": end.isoformat()},
        policy_name=resolved.name,
        scanjob=scanjob,
        progress=progress,
    ) as run:
        with engine.connect() as conn:
            inputs = replay_inputs(conn, live, start, end)
        run.progress(20, f"backtest {kind}: {inputs.days} days")
        result = replay_backtest(
            inputs.window,
            scan,
            strategy=str(kind),
            exit_rule=live.exit_rule or "vcp",
            tracking=resolved.tracking,
            start=start,
            end=end,
            benchmark=inputs.benchmark,
        )
        with Session(engine) as session, session.begin():
            finish_run(
                session, run.run_id, {"summary": result["summary"], "trades": len(result["trades"])}
            )
    # Metrics of an empty or flat backtest (a Sharpe ratio without variance) are null, not NaN.
    return finite({"kind": "backtest", "run_id": run.run_id, "policy": resolved.name, **result})
