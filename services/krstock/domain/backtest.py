"""Day-by-day replay of a scan over a MarketWindow, then the tracker (monolith §4.9).

The scan is a parameter (``Callable[[MarketWindow], list[dict]]``, freqtrade style), so the
same replay serves every strategy of the run catalogue (``krstock.app.catalogue``). On each
day D the scan sees ``window.up_to(D)`` only: no look-ahead. Entries are at D's close (the
signal's ``entry_price``); exits come from the tracker rules of ``tracking.py`` applied to the
rows after D.

Metrics per strategy and per grade: trades, win rate, average and total (sum) return, profit
factor, max drawdown, Sharpe = mean ÷ std × √(252 ÷ n) with n the average holding period in
trading rows, exposure (share of replay days with a position open), an equity curve
(each trade gets ``position_fraction`` of equity, compounded in exit order) and the KOSPI
buy-and-hold benchmark over the same days.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from krstock.domain.market import MarketWindow, SeriesWindow
from krstock.domain.tracking import TrackingPolicy, closing_bet_exits, update_vcp_signals

ScanFn = Callable[[MarketWindow], list[dict[str, Any]]]
ExitRule = Literal["vcp", "closing_bet"]


@dataclass(frozen=True)
class Trade:
    strategy: str
    grade: str
    ticker: str
    signal_date: str
    entry_price: float
    exit_date: str | None
    exit_price: float | None
    reason: str
    gross_return_pct: float | None
    net_return_pct: float | None
    hold_rows: int


def _day(d: object) -> str:
    return str(np.datetime_as_string(np.asarray(d).astype("datetime64[D]")))


def replay_signals(
    window: MarketWindow, scan: ScanFn, days: Sequence[object]
) -> dict[str, list[dict[str, Any]]]:
    """``scan(window.up_to(D))`` for each day D: the signals as they were known on D."""
    return {_day(np.datetime64(d, "D")): scan(window.up_to(d)) for d in days}  # type: ignore[call-overload]


def _ticker_of(sig: Mapping[str, Any]) -> str:
    ticker = sig.get("ticker", sig.get("stock_code"))
    if ticker is None:
        raise ValueError("a scan signal needs 'ticker' or 'stock_code'")
    return str(ticker)


def _exit_vcp(
    window: MarketWindow,
    rows: np.ndarray,
    day_idx: np.ndarray,
    entry: np.ndarray,
    tracking: TrackingPolicy,
    cost_pct: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the daily tracker from each entry day on; returns exit col, price, reason, net %."""
    n = len(rows)
    exit_col = np.full(n, -1)
    price = np.full(n, np.nan)
    reason = np.full(n, "", dtype="<U9")
    policy = tracking.model_copy(
        update={"commission_pct": 0.0, "tax_pct": 0.0, "slippage_pct": 0.0}
    )
    sig_dates = window.dates[day_idx].astype("datetime64[D]")
    peak = entry.copy()
    for t in range(int(day_idx.min()) + 1 if n else 0, window.shape[1]):
        live = (exit_col < 0) & (day_idx < t)
        if not live.any():
            if (day_idx >= t).any():
                continue
            break
        idx = np.flatnonzero(live)
        cur = window.close[rows[idx], t]
        peak[idx] = np.fmax(peak[idx], cur)
        d = update_vcp_signals(
            entry[idx],
            sig_dates[idx],
            cur,
            window.dates[t],
            policy,
            halted=window.halted[rows[idx], t],
            peak_price=peak[idx],
        )
        hit = idx[d.closed]
        exit_col[hit] = t
        price[hit] = cur[d.closed]  # the tracker rounds for the ledger; returns use the close
        reason[hit] = d.reason[d.closed]
    gross = (price - entry) / entry * 100.0
    return exit_col, price, reason, gross - cost_pct


def _exit_closing(
    window: MarketWindow,
    rows: np.ndarray,
    day_idx: np.ndarray,
    entry: np.ndarray,
    tracking: TrackingPolicy,
    cost_pct: float,
    stops: np.ndarray,
    targets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    k = tracking.closing_hold_days
    n = len(rows)
    cols = day_idx[:, None] + 1 + np.arange(k)[None, :]
    valid = cols < window.shape[1]
    safe = np.where(valid, cols, 0)

    def take(a: np.ndarray) -> np.ndarray:
        return np.where(valid, a[rows[:, None], safe], np.nan)

    policy = tracking.model_copy(
        update={"commission_pct": 0.0, "tax_pct": 0.0, "slippage_pct": 0.0}
    )
    d = closing_bet_exits(
        entry,
        take(window.open),
        take(window.high),
        take(window.low),
        take(window.close),
        policy,
        halted=np.where(valid, window.halted[rows[:, None], safe], False),
        stop_price=stops,
        target_price=targets,
    )
    exit_col = np.where(d.closed, day_idx + d.hold_days, -1) if n else np.zeros(0, int)
    gross = (d.exit_price - entry) / entry * 100.0
    return exit_col, d.exit_price, d.reason, gross - cost_pct


def _stats(returns: np.ndarray, holds: np.ndarray) -> dict[str, Any]:
    n = int(returns.size)
    if n == 0:
        return {
            "trades": 0,
            "win_rate": 0.0,
            "avg_return_pct": 0.0,
            "total_return_pct": 0.0,
            "profit_factor": None,
            "sharpe_ratio": None,
            "avg_hold_rows": 0.0,
        }
    wins = returns[returns > 0]
    losses = returns[returns <= 0]
    loss_sum = float(-losses.sum())
    std = float(returns.std(ddof=1)) if n > 1 else 0.0
    avg_hold = float(holds.mean()) if holds.size else 0.0
    sharpe = float(returns.mean()) / std * math.sqrt(252 / max(avg_hold, 1.0)) if std > 0 else None
    return {
        "trades": n,
        "win_rate": round(wins.size / n * 100, 1),
        "avg_return_pct": round(float(returns.mean()), 2),
        "total_return_pct": round(float(returns.sum()), 2),
        "profit_factor": round(float(wins.sum()) / loss_sum, 3) if loss_sum > 0 else None,
        "sharpe_ratio": round(sharpe, 3) if sharpe is not None else None,
        "avg_hold_rows": round(avg_hold, 2),
    }


def _equity(
    dates: list[str], returns: np.ndarray, fraction: float, capital: float
) -> tuple[list[dict[str, Any]], float]:
    """Equity after each exit (exit-date order) and the max drawdown in %."""
    order = np.argsort(np.array(dates, dtype="datetime64[D]"), kind="stable")
    equity = capital
    peak = capital
    max_dd = 0.0
    curve = []
    for i in order:
        equity *= 1 + fraction * float(returns[i]) / 100.0
        peak = max(peak, equity)
        max_dd = max(max_dd, (peak - equity) / peak * 100.0)
        curve.append({"date": dates[i], "equity": round(equity, 2)})
    return curve, round(max_dd, 2)


def _benchmark(
    series: SeriesWindow | None, start: np.datetime64, end: np.datetime64
) -> float | None:
    if series is None:
        return None
    d = series.dates.astype("datetime64[D]")
    keep = (d >= start) & (d <= end) & ~np.isnan(series.close)
    c = series.close[keep]
    return round((float(c[-1]) / float(c[0]) - 1) * 100.0, 2) if c.size >= 2 else None


def run_backtest(
    window: MarketWindow,
    scan: ScanFn,
    *,
    strategy: str,
    exit_rule: ExitRule,
    tracking: TrackingPolicy | None = None,
    start: object | None = None,
    end: object | None = None,
    benchmark: SeriesWindow | None = None,
    position_fraction: float = 0.1,
    initial_capital: float = 100_000_000,
    cost_pct: float | None = None,
) -> dict[str, Any]:
    """Replay ``scan`` on every day in [start, end] and track the resulting trades.

    ``cost_pct`` defaults to the policy's backtest round trip (0.36 %). Open trades at the end
    are reported with ``reason`` "" and no return, and left out of the metrics.
    """
    tracking = tracking or TrackingPolicy()
    if not 0 < position_fraction <= 1:
        raise ValueError("position_fraction must be in (0, 1]")
    cost = tracking.backtest_round_trip_cost_pct if cost_pct is None else cost_pct
    all_days = window.dates.astype("datetime64[D]")
    lo = all_days[0] if start is None else np.datetime64(start, "D")  # type: ignore[call-overload]
    hi = all_days[-1] if end is None else np.datetime64(end, "D")  # type: ignore[call-overload]
    replay_idx = np.flatnonzero((all_days >= lo) & (all_days <= hi))
    if replay_idx.size == 0:
        raise ValueError("no trading day of the window lies in [start, end]")

    rows_l: list[int] = []
    day_l: list[int] = []
    entry_l: list[float] = []
    grade_l: list[str] = []
    stop_l: list[float] = []
    target_l: list[float] = []
    position = {str(t): i for i, t in enumerate(window.tickers)}
    for t in replay_idx:
        for sig in scan(window.up_to(all_days[t])):
            ticker = _ticker_of(sig)
            if ticker not in position:
                raise ValueError(f"scan returned unknown ticker {ticker!r}")
            entry = float(sig.get("entry_price") or window.close[position[ticker], t])
            rows_l.append(position[ticker])
            day_l.append(int(t))
            entry_l.append(entry)
            grade_l.append(str(sig.get("grade") or "ALL"))
            stop_l.append(
                float(
                    sig.get("stop_price")
                    or math.floor(entry * (1 - tracking.closing_stop_loss_pct / 100))
                )
            )
            target_l.append(
                float(
                    sig.get("target_price")
                    or math.floor(entry * (1 + tracking.closing_take_profit_pct / 100))
                )
            )
    rows = np.array(rows_l, dtype=int)
    day_idx = np.array(day_l, dtype=int)
    entry_arr = np.array(entry_l, dtype=float)
    if exit_rule == "vcp":
        exit_col, price, reason, net = _exit_vcp(window, rows, day_idx, entry_arr, tracking, cost)
    elif exit_rule == "closing_bet":
        exit_col, price, reason, net = _exit_closing(
            window, rows, day_idx, entry_arr, tracking, cost, np.array(stop_l), np.array(target_l)
        )
    else:
        raise ValueError(f"unknown exit rule {exit_rule!r}")

    trades = []
    for i in range(len(rows)):
        closed = exit_col[i] >= 0
        trades.append(
            Trade(
                strategy=strategy,
                grade=grade_l[i],
                ticker=str(window.tickers[rows[i]]),
                signal_date=_day(all_days[day_idx[i]]),
                entry_price=entry_arr[i],
                exit_date=_day(all_days[exit_col[i]]) if closed else None,
                exit_price=float(price[i]) if closed else None,
                reason=str(reason[i]),
                gross_return_pct=round(float(net[i] + cost), 4) if closed else None,
                net_return_pct=round(float(net[i]), 4) if closed else None,
                hold_rows=int(exit_col[i] - day_idx[i]) if closed else 0,
            )
        )
    closed_mask = exit_col >= 0
    closed_net = net[closed_mask]
    holds = (exit_col - day_idx)[closed_mask].astype(float)
    exit_dates = [t.exit_date for t in trades if t.exit_date is not None]
    curve, max_dd = _equity(exit_dates, closed_net, position_fraction, initial_capital)

    # Exposure: replay days with at least one position open (entry day excluded, exit included).
    open_days = np.zeros(window.shape[1], dtype=bool)
    last = np.where(closed_mask, exit_col, window.shape[1] - 1)
    for a, b in zip(day_idx, last, strict=True):
        open_days[a + 1 : b + 1] = True
    exposure = float(open_days[replay_idx].mean() * 100.0)

    summary = _stats(closed_net, holds)
    summary["max_drawdown_pct"] = max_dd
    summary["exposure_pct"] = round(exposure, 2)
    summary["open_trades"] = int((~closed_mask).sum())
    summary["final_capital"] = curve[-1]["equity"] if curve else initial_capital
    summary["total_return_compounded_pct"] = round(
        (summary["final_capital"] / initial_capital - 1) * 100.0, 2
    )
    bench = _benchmark(benchmark, all_days[replay_idx[0]], all_days[replay_idx[-1]])
    by_grade = {}
    for g in sorted(set(grade_l)):
        m = closed_mask & (np.array(grade_l) == g)
        by_grade[g] = _stats(net[m], (exit_col - day_idx)[m].astype(float))
    return {
        "strategy": strategy,
        "start": _day(all_days[replay_idx[0]]),
        "end": _day(all_days[replay_idx[-1]]),
        "days": int(replay_idx.size),
        "cost_pct": cost,
        "summary": summary,
        "by_grade": by_grade,
        "equity_curve": curve,
        "benchmark": {
            "code": benchmark.code if benchmark is not None else None,
            "return_pct": bench,
        },
        "alpha_pct": (
            round(summary["total_return_compounded_pct"] - bench, 2) if bench is not None else None
        ),
        "trades": [asdict(t) for t in trades],
    }
