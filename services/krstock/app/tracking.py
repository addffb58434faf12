"""Mark open signals to market on a day and close them by rule (the monolith's tracker)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from krstock.app.catalogue import TRACKED_KINDS, kinds_exiting_by
from krstock.app.kinds import RunKind
from krstock.app.policies import PolicyLike, resolve_policy
from krstock.app.recorder import ProgressFn, finish_run, recorded_run
from krstock.app.trading_day import require_prices_on
from krstock.db.models import Signal, Trade
from krstock.domain.tracking import ExitDecision, closing_bet_exits, update_vcp_signals

VCP_EXITS = kinds_exiting_by("vcp")
CLOSING_BET_EXITS = kinds_exiting_by("closing_bet")

_BARS = text(
    "SELECT ticker, date, open, high, low, close, halted FROM daily_prices "
    "WHERE ticker = ANY(:tickers) AND date >= :start AND date <= :end ORDER BY ticker, date"
)


def _open_signals(session: Session, day: date) -> pd.DataFrame:
    rows = session.execute(
        select(
            Signal.id,
            Signal.strategy,
            Signal.ticker,
            Signal.signal_date,
            Signal.entry_price,
            Signal.stop_price,
            Signal.target_price,
            Signal.quantity,
            Signal.grade,
        ).where(
            Signal.status == "OPEN",
            Signal.strategy.in_(TRACKED_KINDS),
            Signal.signal_date <= day,
        )
    ).all()
    return pd.DataFrame(
        rows,
        columns=[
            "id", "strategy", "ticker", "signal_date", "entry_price",
            "stop_price", "target_price", "quantity", "grade",
        ],
    )  # fmt: skip


def _vcp_decisions(
    signals: pd.DataFrame, bars: pd.DataFrame, day: date, policy: Any
) -> ExitDecision:
    """Latest close (≤ day) and peak close since entry per signal, then the VCP exit rules."""
    merged = signals[["id", "ticker", "signal_date"]].merge(bars, on="ticker", how="left")
    merged = merged[merged["date"] >= merged["signal_date"]].sort_values(["id", "date"])
    last = merged.groupby("id").tail(1).set_index("id")
    peak = merged.groupby("id")["close"].max()
    ids = signals["id"]
    current = last["close"].reindex(ids).to_numpy(dtype=float)
    today_halted = (last["halted"].reindex(ids).fillna(False).astype(bool)) & (
        last["date"].reindex(ids) == pd.Timestamp(day).date()
    )
    return update_vcp_signals(
        signals["entry_price"].to_numpy(dtype=float),
        signals["signal_date"].to_numpy(dtype="datetime64[D]"),
        current,
        np.datetime64(day, "D"),
        policy,
        halted=today_halted.to_numpy(dtype=bool),
        peak_price=peak.reindex(ids).to_numpy(dtype=float),
    )


def _closing_decisions(
    signals: pd.DataFrame, bars: pd.DataFrame, policy: Any
) -> tuple[ExitDecision, list[date | None]]:
    """Bars after each entry day as (positions × days after entry) arrays; also the date of
    the row each position exits on (the tracker may run days later than that row)."""
    merged = signals[["id", "ticker", "signal_date"]].merge(bars, on="ticker", how="inner")
    merged = merged[merged["date"] > merged["signal_date"]].sort_values(["id", "date"])
    merged["offset"] = merged.groupby("id").cumcount()
    width = max(policy.closing_hold_days, int(merged["offset"].max()) + 1 if len(merged) else 1)
    index = pd.Index(signals["id"], name="id")
    columns = pd.RangeIndex(width, name="offset")

    def grid(column: str) -> np.ndarray:
        table = merged.pivot(index="id", columns="offset", values=column)
        return table.reindex(index=index, columns=columns).to_numpy(dtype=float)

    halted = grid("halted")
    dates = (
        merged.pivot(index="id", columns="offset", values="date")
        .reindex(index=index, columns=columns)
        .to_numpy(dtype=object)
    )
    decision = closing_bet_exits(
        signals["entry_price"].to_numpy(dtype=float),
        grid("open"),
        grid("high"),
        grid("low"),
        grid("close"),
        policy,
        halted=np.nan_to_num(halted, nan=0.0).astype(bool),
        stop_price=signals["stop_price"].to_numpy(dtype=float),
        target_price=signals["target_price"].to_numpy(dtype=float),
    )
    exit_dates = [
        dates[k, int(decision.hold_days[k]) - 1] if decision.closed[k] else None
        for k in range(len(signals))
    ]
    return decision, exit_dates


def _outcomes(
    subset: pd.DataFrame,
    decision: ExitDecision,
    exit_dates: Sequence[date | None],
    cost: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Signal row updates and trades for one strategy group's decisions."""
    updates: list[dict[str, Any]] = []
    trades: list[dict[str, Any]] = []
    for k, sig in enumerate(subset.to_dict("records")):
        hold = int(decision.hold_days[k])
        if not decision.closed[k]:
            updates.append({"id": int(sig["id"]), "hold_days": hold})
            continue
        reason = str(decision.reason[k])
        exit_date = exit_dates[k]
        net = float(decision.return_pct[k])
        exit_price = float(decision.exit_price[k])
        updates.append(
            {
                "id": int(sig["id"]),
                "status": "CLOSED",
                "exit_price": exit_price,
                "exit_date": exit_date,
                "exit_reason": reason,
                "return_pct": net,
                "current_price": exit_price,
                "hold_days": hold,
            }
        )
        trades.append(
            {
                "signal_id": int(sig["id"]),
                "strategy": sig["strategy"],
                "ticker": sig["ticker"],
                "grade": None if pd.isna(sig["grade"]) else sig["grade"],
                "entry_date": sig["signal_date"],
                "entry_price": float(sig["entry_price"]),
                "exit_date": exit_date,
                "exit_price": exit_price,
                "quantity": None if pd.isna(sig["quantity"]) else int(sig["quantity"]),
                "gross_return_pct": round(net + cost, 2),
                "net_return_pct": net,
                "cost_pct": cost,
                "exit_reason": reason,
                "hold_days": hold,
            }
        )
    return updates, trades


def _upsert_trades(session: Session, trades: list[dict[str, Any]]) -> None:
    """All of the day's trades in one INSERT ... ON CONFLICT (signal_id) statement."""
    if not trades:
        return
    stmt = pg_insert(Trade).values(trades)
    columns = [c for c in trades[0] if c != "signal_id"]
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["signal_id"], set_={c: stmt.excluded[c] for c in columns}
        )
    )


def run_track(
    engine: Engine,
    *,
    day: date,
    policy: PolicyLike = None,
    run_id: str | None = None,
    progress: ProgressFn | None = None,
    scanjob: str | None = None,
) -> dict[str, Any]:
    """Close what the rules close on ``day`` (idempotent: closed signals are not revisited)."""
    resolved = resolve_policy(policy)
    rules = resolved.tracking
    with (
        recorded_run(
            engine,
            kind=RunKind.TRACK,
            day=day,
            run_id=run_id,
            policy_name=resolved.name,
            scanjob=scanjob,
            progress=progress,
        ) as run,
        Session(engine) as session,
        session.begin(),
    ):
        # Exits are priced and dated on a trading day, never on a holiday's stale close.
        require_prices_on(session.connection(), day)
        signals = _open_signals(session, day)
        updates: list[dict[str, Any]] = []
        trades: list[dict[str, Any]] = []
        if len(signals):
            bars = pd.DataFrame(
                session.execute(
                    _BARS,
                    {
                        "tickers": sorted(signals["ticker"].unique()),
                        "start": signals["signal_date"].min(),
                        "end": day,
                    },
                ).all(),
                columns=["ticker", "date", "open", "high", "low", "close", "halted"],
            )
            vcp = signals[signals["strategy"].isin(VCP_EXITS)].reset_index(drop=True)
            bets = signals[signals["strategy"].isin(CLOSING_BET_EXITS)].reset_index(drop=True)
            cost = rules.round_trip_cost_pct
            if not vcp.empty:
                # The monolith closes a VCP signal on the day the tracker sees the rule hold.
                decision = _vcp_decisions(vcp, bars, day, rules)
                more = _outcomes(vcp, decision, [day] * len(vcp), cost)
                updates, trades = updates + more[0], trades + more[1]
            if not bets.empty:
                decision, exit_dates = _closing_decisions(bets, bars, rules)
                more = _outcomes(bets, decision, exit_dates, cost)
                updates, trades = updates + more[0], trades + more[1]
        # ORM bulk UPDATE by primary key, one statement per column set.
        for batch in (
            [u for u in updates if "status" in u],
            [u for u in updates if "status" not in u],
        ):
            if batch:
                session.execute(update(Signal), batch)
        _upsert_trades(session, trades)
        closed_by_reason: dict[str, int] = {}
        for trade in trades:
            reason = trade["exit_reason"]
            closed_by_reason[reason] = closed_by_reason.get(reason, 0) + 1
        counts = {
            "open_before": len(signals),
            "closed": len(trades),
            "closed_by_reason": closed_by_reason,
        }
        finish_run(session, run.run_id, counts)
    return {"kind": "track", "date": day.isoformat(), "run_id": run.run_id, **counts}
