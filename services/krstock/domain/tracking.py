"""Signal lifecycle OPEN → CLOSED (monolith §4.5) and the performance figures (§3.5, §2.2).

Vectorized over many open signals at once: arrays of entry prices, signal dates and today's
prices in, arrays of status / reason / exit price / return out.

- VCP (SignalTracker): STOP_LOSS when the return ≤ −7 %, else TIME_EXIT when hold_days ≥ 5
  CALENDAR days; exit at today's close (rounded), return to 2 dp; no take-profit. TARGET and
  TRAILING exist as options (off by default).
- Closing bet: −3 % / +5 % from the entry (the signal's stop/target prices) judged on closes by
  default, on intraday lows/highs as an option; the declared gap and next-morning rules are
  options, off by default as in the monolith (which never executed them).
- A halted day never closes a signal; hold days still count.
- Costs (commission, tax, slippage) are 0 for the tracker by default; backtests use 0.36 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from krstock.domain.market import BoolArray, FloatArray

_STRICT = ConfigDict(extra="forbid", frozen=True)

ExitReason = Literal["", "STOP_LOSS", "TARGET", "TIME_EXIT", "TRAILING"]
StrArray = npt.NDArray[np.str_]
IntArray = npt.NDArray[np.int64]


class TrackingPolicy(BaseModel):
    """Exit rules and costs. Percentages are in percent (7.0 = 7 %)."""

    model_config = _STRICT

    vcp_stop_loss_pct: float = Field(
        default=7.0, gt=0, lt=100, description="VCP: close with STOP_LOSS at return ≤ −this %."
    )
    vcp_hold_days: int = Field(
        default=5, ge=1, le=365, description="VCP: TIME_EXIT at this many CALENDAR days."
    )
    vcp_take_profit_pct: float | None = Field(
        default=None, gt=0, description="VCP: TARGET at return ≥ this % (null: none, original)."
    )
    vcp_trailing_stop_pct: float | None = Field(
        default=None,
        gt=0,
        lt=100,
        description="VCP: TRAILING when, in profit, the close falls this % below the peak close.",
    )
    closing_stop_loss_pct: float = Field(
        default=3.0, gt=0, lt=100, description="Closing bet: stop distance from entry, %."
    )
    closing_take_profit_pct: float = Field(
        default=5.0, gt=0, description="Closing bet: target distance from entry, %."
    )
    closing_hold_days: int = Field(
        default=1, ge=1, le=30, description="Closing bet: TIME_EXIT at the close of this row."
    )
    closing_use_intraday_extremes: bool = Field(
        default=False,
        description="Closing bet: judge stop/target on the day's low/high (stop first) instead "
        "of the close.",
    )
    closing_gap_rules: bool = Field(
        default=False,
        description="Closing bet: take profit on a next-open gap up ≥ closing_gap_up_pct, stop on "
        "a gap down ≤ −closing_gap_down_pct (declared in the monolith, never executed).",
    )
    closing_gap_up_pct: float = Field(default=3.0, ge=0, description="Gap-up take profit, %.")
    closing_gap_down_pct: float = Field(default=2.0, ge=0, description="Gap-down stop, %.")
    closing_next_morning_exit: bool = Field(
        default=False,
        description="Closing bet: exit at the next open (the 10:00 time stop, daily-bar proxy).",
    )
    commission_pct: float = Field(
        default=0.0, ge=0, lt=5, description="Commission per side, % (tracker: 0)."
    )
    tax_pct: float = Field(default=0.0, ge=0, lt=5, description="Sell-side tax, % (tracker: 0).")
    slippage_pct: float = Field(
        default=0.0, ge=0, lt=5, description="Slippage per round trip, % (tracker: 0)."
    )
    backtest_round_trip_cost_pct: float = Field(
        default=0.36,
        ge=0,
        lt=10,
        description="Backtests: net = gross − this (0.015%×2 + 0.23% tax + 0.1% slippage).",
    )

    @property
    def round_trip_cost_pct(self) -> float:
        return 2 * self.commission_pct + self.tax_pct + self.slippage_pct


@dataclass(frozen=True)
class ExitDecision:
    """Per signal: whether it closes today, why, at what price, and its return."""

    closed: BoolArray
    reason: StrArray
    exit_price: FloatArray
    return_pct: FloatArray
    hold_days: IntArray

    @property
    def status(self) -> StrArray:
        return np.where(self.closed, "CLOSED", "OPEN")


def calendar_hold_days(signal_dates: npt.ArrayLike, today: object) -> IntArray:
    """Calendar days from each signal date to ``today`` (SignalTracker's hold_days)."""
    start = np.asarray(signal_dates, dtype="datetime64[D]")
    end = np.datetime64(today, "D")  # type: ignore[call-overload]
    return (end - start).astype(np.int64)


def update_vcp_signals(
    entry_price: npt.ArrayLike,
    signal_dates: npt.ArrayLike,
    current_price: npt.ArrayLike,
    today: object,
    policy: TrackingPolicy,
    *,
    halted: npt.ArrayLike | None = None,
    peak_price: npt.ArrayLike | None = None,
) -> ExitDecision:
    """``update_open_signals`` for many OPEN rows: STOP_LOSS ≤ −7 %, else TIME_EXIT ≥ 5 days.

    ``current_price`` is today's close (NaN = no price today: nothing closes). ``peak_price``
    (highest close since entry) is needed only for the trailing stop.
    """
    entry = np.asarray(entry_price, dtype=np.float64)
    cur = np.asarray(current_price, dtype=np.float64)
    if entry.shape != cur.shape:
        raise ValueError("entry_price and current_price must have the same shape")
    if np.any(~(entry > 0)):
        raise ValueError("every entry price must be positive")
    hold = calendar_hold_days(signal_dates, today)
    gross = (cur - entry) / entry * 100.0
    net = gross - policy.round_trip_cost_pct
    can_exit = np.isfinite(cur)
    if halted is not None:
        can_exit &= ~np.asarray(halted, dtype=bool)

    reason = np.full(entry.shape, "", dtype="<U9")
    stop = net <= -policy.vcp_stop_loss_pct
    rules: list[tuple[BoolArray, str]] = [(stop, "STOP_LOSS")]
    if policy.vcp_take_profit_pct is not None:
        rules.append((net >= policy.vcp_take_profit_pct, "TARGET"))
    if policy.vcp_trailing_stop_pct is not None:
        if peak_price is None:
            raise ValueError("the trailing stop needs peak_price")
        peak = np.fmax(np.asarray(peak_price, dtype=np.float64), cur)
        in_profit = cur > entry
        rules.append(
            (in_profit & (cur <= peak * (1 - policy.vcp_trailing_stop_pct / 100)), "TRAILING")
        )
    rules.append((hold >= policy.vcp_hold_days, "TIME_EXIT"))
    # Earlier rules win: fill from the last rule back to the first.
    for hit, name in reversed(rules):
        reason = np.where(hit & can_exit, name, reason)
    closed = reason != ""
    return ExitDecision(
        closed=closed,
        reason=reason,
        exit_price=np.where(closed, np.round(cur), np.nan),
        return_pct=np.where(closed, np.round(net, 2), np.nan),
        hold_days=hold,
    )


def closing_bet_exits(
    entry_price: npt.ArrayLike,
    next_open: npt.ArrayLike,
    next_high: npt.ArrayLike,
    next_low: npt.ArrayLike,
    next_close: npt.ArrayLike,
    policy: TrackingPolicy,
    *,
    halted: npt.ArrayLike | None = None,
    stop_price: npt.ArrayLike | None = None,
    target_price: npt.ArrayLike | None = None,
) -> ExitDecision:
    """Exits of closing-bet positions over the rows after the entry day.

    The ``next_*`` arrays are (positions × days after entry), at least ``closing_hold_days``
    columns (NaN where unknown yet: the position stays OPEN). Stop and target default to
    int(entry × 0.97) and int(entry × 1.05), as the signal records them. ``hold_days`` in the
    result counts trading rows.
    """
    entry = np.asarray(entry_price, dtype=np.float64)
    o = np.atleast_2d(np.asarray(next_open, dtype=np.float64))
    h = np.atleast_2d(np.asarray(next_high, dtype=np.float64))
    lo = np.atleast_2d(np.asarray(next_low, dtype=np.float64))
    c = np.atleast_2d(np.asarray(next_close, dtype=np.float64))
    if not (o.shape == h.shape == lo.shape == c.shape) or o.shape[0] != entry.shape[0]:
        raise ValueError("next_* arrays must be (positions × days) and match entry_price")
    halt = (
        np.zeros(o.shape, dtype=bool)
        if halted is None
        else np.atleast_2d(np.asarray(halted, dtype=bool))
    )
    stop = (
        np.floor(entry * (1 - policy.closing_stop_loss_pct / 100))
        if stop_price is None
        else np.asarray(stop_price, dtype=np.float64)
    )
    target = (
        np.floor(entry * (1 + policy.closing_take_profit_pct / 100))
        if target_price is None
        else np.asarray(target_price, dtype=np.float64)
    )
    n, days = o.shape
    reason = np.full(n, "", dtype="<U9")
    price = np.full(n, np.nan)
    held = np.zeros(n, dtype=np.int64)
    for d in range(min(days, policy.closing_hold_days)):
        open_now = reason == ""
        live = open_now & ~halt[:, d] & np.isfinite(c[:, d])
        held = np.where(open_now & np.isfinite(c[:, d]), d + 1, held)

        # Candidate exits of the day in priority order; the first that applies wins.
        rules: list[tuple[BoolArray, str, FloatArray]] = []
        if d == 0 and policy.closing_gap_rules:
            gap_up = o[:, 0] >= entry * (1 + policy.closing_gap_up_pct / 100)
            gap_down = o[:, 0] <= entry * (1 - policy.closing_gap_down_pct / 100)
            rules += [(gap_up, "TARGET", o[:, 0]), (gap_down, "STOP_LOSS", o[:, 0])]
        if d == 0 and policy.closing_next_morning_exit:
            rules.append((np.isfinite(o[:, 0]), "TIME_EXIT", o[:, 0]))
        if policy.closing_use_intraday_extremes:
            # A gap through the stop fills at the open; the stop is checked before the target.
            rules.append((lo[:, d] <= stop, "STOP_LOSS", np.fmin(o[:, d], stop)))
            rules.append((h[:, d] >= target, "TARGET", np.fmax(o[:, d], target)))
        else:
            rules.append((c[:, d] <= stop, "STOP_LOSS", c[:, d]))
            rules.append((c[:, d] >= target, "TARGET", c[:, d]))
        if d == policy.closing_hold_days - 1:
            rules.append((np.ones(n, dtype=bool), "TIME_EXIT", c[:, d]))
        for mask, name, at in rules:
            take = mask & live & (reason == "")
            reason = np.where(take, name, reason)
            price = np.where(take, at, price)
    closed = reason != ""
    gross = (price - entry) / entry * 100.0
    net = gross - policy.round_trip_cost_pct
    return ExitDecision(
        closed=closed,
        reason=reason,
        exit_price=np.where(closed, price, np.nan),
        return_pct=np.where(closed, np.round(net, 2), np.nan),
        hold_days=held,
    )


# --------------------------------------------------------------------------- reports


def _round(x: float, nd: int) -> float:
    return round(float(x), nd)


PERIOD_END_EXIT = "last exit date"
PERIOD_END_SIGNAL = "last signal date (no signal has closed yet)"


def _period(
    rows: Sequence[Mapping[str, Any]], closed: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """``period`` as the monolith wrote it (first signal ~ last exit) and its two ends apart.

    With no closed signal there is no exit date: the end is then the last signal date, and
    ``period_end_basis`` says so (the monolith printed ``"2026-11-11 ~ "``)."""
    if not rows:
        return {"period": "", "period_start": None, "period_end": None, "period_end_basis": None}
    first = min(str(r["signal_date"]) for r in rows)
    exits = [str(r["exit_date"]) for r in closed if r.get("exit_date")]
    end, basis = (max(exits), PERIOD_END_EXIT) if exits else (_last_signal(rows), PERIOD_END_SIGNAL)
    return {
        "period": f"{first} ~ {end}",
        "period_start": first,
        "period_end": end,
        "period_end_basis": basis,
    }


def _last_signal(rows: Sequence[Mapping[str, Any]]) -> str:
    return max(str(r["signal_date"]) for r in rows)


def performance_report(
    rows: Sequence[Mapping[str, Any]],
    *,
    strategy_params: Mapping[str, Any],
) -> dict[str, Any]:
    """``strategy_performance.json`` (SignalTracker.get_performance_report).

    ``rows`` are signals_log rows (``signal_date, status, return_pct, hold_days, exit_date``);
    ``strategy_params`` is ``{foreign_min, consecutive_min, contraction_max, near_high_pct,
    hold_days, stop_loss_pct}`` (see ``vcp_strategy_params``).
    """
    closed = [r for r in rows if r.get("status") == "CLOSED"]
    returns = np.array([float(r["return_pct"]) for r in closed], dtype=np.float64)
    holds = np.array([float(r.get("hold_days") or 0) for r in closed], dtype=np.float64)
    wins = int(np.sum(returns > 0))
    has = len(closed) > 0
    return {
        **_period(rows, closed),
        "total_signals": len(rows),
        "closed_signals": len(closed),
        "open_signals": sum(1 for r in rows if r.get("status") == "OPEN"),
        "wins": wins,
        "losses": len(closed) - wins,
        "win_rate": _round(wins / len(closed) * 100, 1) if has else 0.0,
        "avg_return": _round(returns.mean(), 2) if has else 0.0,
        "total_return": _round(returns.sum(), 2) if has else 0.0,
        "best_trade": _round(returns.max(), 2) if has else 0.0,
        "worst_trade": _round(returns.min(), 2) if has else 0.0,
        "avg_hold_days": _round(holds.mean(), 1) if has else 0.0,
        "strategy_params": dict(strategy_params),
    }


def vcp_strategy_params(
    *,
    foreign_min: float,
    contraction_max: float,
    near_high_pct: float,
    tracking: TrackingPolicy,
    consecutive_min: int = 3,
) -> dict[str, Any]:
    """The six strategy_params keys (consecutive_min 3 is declared but unused, as shipped)."""
    return {
        "foreign_min": foreign_min,
        "consecutive_min": consecutive_min,
        "contraction_max": contraction_max,
        "near_high_pct": near_high_pct,
        "hold_days": tracking.vcp_hold_days,
        "stop_loss_pct": tracking.vcp_stop_loss_pct,
    }


def vcp_backtest_summary(
    returns: Sequence[float], winners: Sequence[bool] | None = None
) -> dict[str, Any]:
    """The ``vcp`` card of /api/kr/backtest-summary from a backtest file's return column
    (``winners`` from ``is_winner``/``is_win`` when present, else return > 0)."""
    r = np.array([x for x in returns if x is not None and math.isfinite(float(x))], dtype=float)
    if r.size == 0:
        return {"status": "No Data", "count": 0, "win_rate": 0, "avg_return": 0}
    w = (
        np.asarray(winners, dtype=bool)
        if winners is not None and len(winners) == len(returns)
        else None
    )
    wins = int(w.sum()) if w is not None else int(np.sum(r > 0))
    return {
        "status": "OK",
        "count": int(r.size),
        "win_rate": round(wins / r.size * 100, 1),
        "avg_return": round(float(r.mean()), 2),
    }


def closing_bet_backtest_summary(
    results_by_date: Mapping[str, Sequence[Mapping[str, Any]]],
    today: str,
    *,
    win_return_pct: float = 5.0,
    loss_return_pct: float = -3.0,
    min_days: int = 2,
) -> dict[str, Any]:
    """The ``closing_bet`` card: the monolith's heuristic, not a price replay.

    ``results_by_date`` maps "YYYY-MM-DD" (or YYYYMMDD) → the day's signals. Today's file is
    left out; with fewer than ``min_days`` days: "Accumulating". Each signal with
    change_pct > 0 counts as a +5 % win, otherwise a −3 % loss.
    """
    today_key = today.replace("-", "")
    days = {k: v for k, v in results_by_date.items() if k.replace("-", "") != today_key}
    if len(days) < min_days:
        return {
            "status": "Accumulating",
            "count": 0,
            "win_rate": 0,
            "avg_return": 0,
            "message": f"{len(days)}일 데이터 (최소 {min_days}일 필요)",
        }
    changes = [float(s.get("change_pct") or 0) for signals in days.values() for s in signals]
    if not changes:
        return {"status": "No Valid Signals", "count": 0, "win_rate": 0, "avg_return": 0}
    outcome = np.where(np.array(changes) > 0, win_return_pct, loss_return_pct)
    wins = int(np.sum(outcome > 0))
    return {
        "status": "OK",
        "count": len(changes),
        "win_rate": round(wins / len(changes) * 100, 1),
        "avg_return": round(float(outcome.mean()), 2),
    }
