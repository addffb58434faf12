"""Signal lifecycle and performance figures (§4.5, §3.5, §2.2), checked on the real ledger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from krstock.domain.tracking import (
    TrackingPolicy,
    calendar_hold_days,
    closing_bet_backtest_summary,
    closing_bet_exits,
    performance_report,
    update_vcp_signals,
    vcp_backtest_summary,
    vcp_strategy_params,
)

P = TrackingPolicy()


def _ledger(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(
        shared_data / "legacy" / "signals_log.csv", encoding="utf-8-sig", dtype={"ticker": str}
    )


def test_vcp_rules_at_boundaries() -> None:
    entry = np.full(7, 10_000.0)
    dates = ["2026-02-05"] * 7
    # −7.00 % closes, −6.99 % does not; 4 days stays open, 5 days closes.
    current = [9_300.0, 9_301.0, 9_301.0, 10_500.0, 9_300.0, np.nan, 10_000.4]
    today = ["2026-02-09"] * 3 + ["2026-02-09", "2026-02-05", "2026-02-10", "2026-02-10"]
    got = [
        update_vcp_signals(entry[i : i + 1], dates[i : i + 1], [current[i]], today[i], P)
        for i in range(7)
    ]
    assert [g.reason[0] for g in got] == ["STOP_LOSS", "", "", "", "STOP_LOSS", "", "TIME_EXIT"]
    assert [int(g.hold_days[0]) for g in got] == [4, 4, 4, 4, 0, 5, 5]
    assert got[0].return_pct[0] == -7.0 and got[0].exit_price[0] == 9_300
    assert got[6].exit_price[0] == 10_000 and got[6].return_pct[0] == 0.0
    assert got[1].status[0] == "OPEN" and np.isnan(got[1].exit_price[0])
    assert got[5].status[0] == "OPEN"  # no price today: nothing closes


def test_vcp_vectorized_halts_and_options() -> None:
    entry = [100.0, 100.0, 100.0, 100.0]
    dates = ["2026-02-02"] * 4
    cur = [90.0, 90.0, 120.0, 104.0]
    halted = [False, True, False, False]
    d = update_vcp_signals(entry, dates, cur, "2026-02-04", P, halted=halted)
    assert d.reason.tolist() == ["STOP_LOSS", "", "", ""]
    assert d.hold_days.tolist() == [2, 2, 2, 2]  # a halted day still counts
    # A halted day at 5 days: no exit either.
    late = update_vcp_signals(entry, dates, cur, "2026-02-09", P, halted=halted)
    assert late.reason.tolist() == ["STOP_LOSS", "", "TIME_EXIT", "TIME_EXIT"]
    opts = TrackingPolicy(vcp_take_profit_pct=15.0, vcp_trailing_stop_pct=5.0)
    o = update_vcp_signals(entry, dates, cur, "2026-02-04", opts, peak_price=[95, 95, 125, 110])
    assert o.reason.tolist() == ["STOP_LOSS", "STOP_LOSS", "TARGET", "TRAILING"]
    with pytest.raises(ValueError):
        update_vcp_signals(entry, dates, cur, "2026-02-04", opts)
    costs = TrackingPolicy(commission_pct=0.015, tax_pct=0.23, slippage_pct=0.1)
    assert costs.round_trip_cost_pct == pytest.approx(0.36)
    c = update_vcp_signals([100.0], ["2026-02-02"], [110.0], "2026-02-09", costs)
    assert c.return_pct[0] == pytest.approx(9.64)
    with pytest.raises(ValueError):
        update_vcp_signals([0.0], ["2026-02-02"], [1.0], "2026-02-09", P)


def test_closing_bet_exits_default_and_options() -> None:
    entry = np.array([10_000.0] * 5)
    # Day after entry: open, high, low, close per position.
    o = [[10_400.0], [9_750.0], [10_100.0], [10_000.0], [10_000.0]]
    h = [[10_600.0], [9_900.0], [10_600.0], [10_200.0], [10_200.0]]
    lo = [[10_300.0], [9_600.0], [9_650.0], [9_900.0], [9_900.0]]
    c = [[10_350.0], [9_690.0], [10_500.0], [10_100.0], [10_100.0]]
    halted = [[False], [False], [False], [False], [True]]
    d = closing_bet_exits(entry, o, h, lo, c, P, halted=halted)
    # Closes judged at the close: stop at 9,700, target at 10,500 (inclusive).
    assert d.reason.tolist() == ["TIME_EXIT", "STOP_LOSS", "TARGET", "TIME_EXIT", ""]
    assert d.exit_price[:4].tolist() == [10_350.0, 9_690.0, 10_500.0, 10_100.0]
    assert d.return_pct[:4].tolist() == [3.5, -3.1, 5.0, 1.0]
    intraday = closing_bet_exits(
        entry, o, h, lo, c, TrackingPolicy(closing_use_intraday_extremes=True)
    )
    # Stop first when both are touched; a gap below the stop fills at the open.
    assert intraday.reason.tolist()[:4] == ["TARGET", "STOP_LOSS", "STOP_LOSS", "TIME_EXIT"]
    assert intraday.exit_price.tolist()[:3] == [10_500.0, 9_700.0, 9_700.0]
    gaps = closing_bet_exits(entry, o, h, lo, c, TrackingPolicy(closing_gap_rules=True))
    assert gaps.reason.tolist()[:2] == ["TARGET", "STOP_LOSS"]  # +4 % gap up, −2.5 % gap down
    assert gaps.exit_price.tolist()[:2] == [10_400.0, 9_750.0]
    morning = closing_bet_exits(entry, o, h, lo, c, TrackingPolicy(closing_next_morning_exit=True))
    assert morning.reason.tolist()[:4] == ["TIME_EXIT"] * 4
    assert morning.exit_price.tolist()[:4] == [10_400.0, 9_750.0, 10_100.0, 10_000.0]


def test_closing_bet_multi_day_hold_and_unknown_days() -> None:
    policy = TrackingPolicy(closing_hold_days=2)
    entry = [100.0, 100.0]
    o = [[100.0, 100.0], [100.0, np.nan]]
    c = [[101.0, 102.0], [101.0, np.nan]]
    d = closing_bet_exits(entry, o, c, c, c, policy)
    assert d.reason.tolist() == ["TIME_EXIT", ""]
    assert d.hold_days.tolist() == [2, 1]
    with pytest.raises(ValueError):
        closing_bet_exits([100.0], [[1.0, 2.0]], [[1.0]], [[1.0]], [[1.0]], P)


def test_real_ledger_closed_rows_follow_the_tracker_rule(shared_data: Path) -> None:
    log = _ledger(shared_data)
    closed = log[log.status == "CLOSED"]
    assert len(log) == 981 and len(closed) == 813
    assert ((closed.hold_days >= 5) | (closed.return_pct <= -7)).all()
    # Replaying each close on its exit date gives the same exit, return and hold days.
    for exit_date, grp in closed.groupby("exit_date"):
        d = update_vcp_signals(
            grp.entry_price.to_numpy(),
            grp.signal_date.to_numpy(),
            grp.exit_price.to_numpy(),
            exit_date,
            P,
        )
        assert d.closed.all(), exit_date
        assert np.array_equal(d.return_pct, grp.return_pct.to_numpy()), exit_date
        assert np.array_equal(d.hold_days, grp.hold_days.to_numpy()), exit_date
        expected = np.where(grp.return_pct <= -7, "STOP_LOSS", "TIME_EXIT")
        assert d.reason.tolist() == expected.tolist()
    # OPEN rows are younger than 5 days on the last exit date's horizon.
    opened = log[log.status == "OPEN"]
    assert (calendar_hold_days(opened.signal_date.to_numpy(), "2026-02-27") < 5).all()


def test_performance_report_on_real_ledger(shared_data: Path) -> None:
    log = _ledger(shared_data)
    rows = log.astype(object).where(log.notna(), None).to_dict("records")
    params = vcp_strategy_params(
        foreign_min=50_000, contraction_max=0.8, near_high_pct=0.92, tracking=P
    )
    rep = performance_report(rows, strategy_params=params)
    closed = log[log.status == "CLOSED"]
    assert rep["total_signals"] == 981 and rep["closed_signals"] == 813
    assert rep["open_signals"] == 168
    assert rep["win_rate"] == 39.5 and rep["avg_return"] == 1.96  # the real p10 figures
    assert rep["wins"] == int((closed.return_pct > 0).sum())
    assert rep["wins"] + rep["losses"] == 813
    assert rep["total_return"] == round(closed.return_pct.sum(), 2)
    assert rep["best_trade"] == closed.return_pct.max()
    assert rep["worst_trade"] == closed.return_pct.min()
    assert rep["avg_hold_days"] == round(closed.hold_days.mean(), 1)
    assert rep["period"] == "2026-02-05 ~ 2026-02-24"
    assert rep["strategy_params"] == {
        "foreign_min": 50_000,
        "consecutive_min": 3,
        "contraction_max": 0.8,
        "near_high_pct": 0.92,
        "hold_days": 5,
        "stop_loss_pct": 7.0,
    }
    assert performance_report([], strategy_params=params)["win_rate"] == 0.0


def test_backtest_summary_cards() -> None:
    assert vcp_backtest_summary([]) == {
        "status": "No Data",
        "count": 0,
        "win_rate": 0,
        "avg_return": 0,
    }
    v = vcp_backtest_summary([2.0, -1.0, 0.0, 3.333], winners=[True, False, False, True])
    assert v == {"status": "OK", "count": 4, "win_rate": 50.0, "avg_return": 1.08}
    one = closing_bet_backtest_summary(
        {"2026-02-04": [{"change_pct": 1}], "2026-02-05": [{"change_pct": 2}]}, "2026-02-05"
    )
    assert one["status"] == "Accumulating" and one["message"] == "1일 데이터 (최소 2일 필요)"
    cb = closing_bet_backtest_summary(
        {
            "20260203": [{"change_pct": 12.0}, {"change_pct": -1.0}],
            "20260204": [{"change_pct": 0.0}],
            "20260205": [{"change_pct": 9.0}],
        },
        "2026-02-05",
    )
    assert cb == {"status": "OK", "count": 3, "win_rate": 33.3, "avg_return": -0.33}
    empty = closing_bet_backtest_summary({"20260203": [], "20260204": []}, "2026-02-05")
    assert empty["status"] == "No Valid Signals"


def test_policy_is_strict() -> None:
    with pytest.raises(ValidationError):
        TrackingPolicy(vcp_stop_loss_pct=0)
    with pytest.raises(ValidationError):
        TrackingPolicy(stop=1)  # type: ignore[call-arg]
