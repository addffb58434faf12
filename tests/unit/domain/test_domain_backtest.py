"""Backtest replay: no look-ahead, tracker exits, metrics and the benchmark."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers.domain_windows import make_series, make_window

from krstock.app.backtests import scan_function
from krstock.domain.backtest import ScanFn, replay_signals, run_backtest
from krstock.domain.market import MarketWindow
from krstock.domain.policy import SignalPolicy
from krstock.domain.tracking import TrackingPolicy


def _random_market(seed: int = 3, n: int = 12, days: int = 90) -> MarketWindow:
    rng = np.random.default_rng(seed)
    moves = rng.normal(0.002, 0.03, (n, days))
    jumps = rng.random((n, days)) < 0.08
    moves[jumps] = rng.uniform(0.06, 0.2, jumps.sum())
    close = np.round(5_000 * np.cumprod(1 + moves, axis=1))
    open_ = np.round(close / (1 + moves * 0.7))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, (n, days)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, (n, days)))
    volume = rng.uniform(2e6, 2e7, (n, days))
    flows = rng.normal(0, 1e5, (n, days))
    return make_window(
        close,
        open_=open_,
        high=high,
        low=low,
        volume=volume,
        foreign=flows,
        inst=flows[::-1],
        markets=["KOSPI", "KOSDAQ"] * (n // 2),
    )


def _p10_closing_bet() -> ScanFn:
    """The live closing-bet strategy (p10 thresholds) as a replayable scan."""
    return scan_function("closing-bet", SignalPolicy.preset("p10"))


def test_replay_has_no_look_ahead() -> None:
    w = _random_market()
    scan = _p10_closing_bet()
    days = w.dates[30:]
    before = replay_signals(w, scan, days)
    assert sum(len(v) for v in before.values()) > 5, "the synthetic market must produce signals"
    cut = 60
    # Rewrite everything after day `cut`: prices, volumes, flows, halts.
    rng = np.random.default_rng(99)
    changed = {}
    for name in (
        "open",
        "high",
        "low",
        "close",
        "volume",
        "trading_value",
        "foreign_net_shares",
        "inst_net_shares",
    ):
        arr = getattr(w, name).copy()
        arr[:, cut + 1 :] *= rng.uniform(0.5, 1.5, arr[:, cut + 1 :].shape)
        changed[name] = arr
    halted = w.halted.copy()
    halted[:, cut + 1 :] = True
    w2 = MarketWindow(**{**w.__dict__, **changed, "halted": halted})
    after = replay_signals(w2, scan, days)
    for d in days[: cut - 30 + 1]:
        key = str(d)
        assert after[key] == before[key], key
    assert any(after[str(d)] != before[str(d)] for d in days[cut - 30 + 1 :])


def test_scan_sees_only_days_up_to_d() -> None:
    w = _random_market(days=40)
    seen: list[tuple[str, str]] = []

    def spy(window: MarketWindow) -> list[dict[str, Any]]:
        seen.append((str(window.dates[-1]), str(window.dates[0])))
        return []

    run_backtest(w, spy, strategy="spy", exit_rule="vcp", start=w.dates[10])
    assert [s[0] for s in seen] == [str(d) for d in w.dates[10:]]
    assert all(s[1] == str(w.dates[0]) for s in seen)


def _scripted(signal_days: dict[int, str]):
    def scan(window: MarketWindow) -> list[dict[str, Any]]:
        t = window.shape[1] - 1
        if t in signal_days:
            return [
                {
                    "ticker": "000001",
                    "entry_price": float(window.close[0, -1]),
                    "grade": signal_days[t],
                }
            ]
        return []

    return scan


def test_vcp_backtest_metrics_and_benchmark() -> None:
    close = np.full((2, 30), 100.0)
    close[0, 3:] = 110.0  # first trade: TIME_EXIT at +10 %
    close[0, 10:] = 100.0
    close[0, 11:] = 92.0  # second trade: STOP_LOSS at −8 %
    w = make_window(close)
    kospi = make_series("KS11", np.linspace(100, 110, 30))
    res = run_backtest(
        w, _scripted({0: "A", 10: "B"}), strategy="vcp", exit_rule="vcp", benchmark=kospi
    )
    t1, t2 = res["trades"]
    sig = w.dates[0].astype("datetime64[D]")
    first_exit = w.dates[w.dates >= sig + np.timedelta64(5, "D")][0]
    assert (t1["reason"], t1["exit_date"]) == ("TIME_EXIT", str(first_exit))
    assert t1["gross_return_pct"] == pytest.approx(10.0)
    assert t1["net_return_pct"] == pytest.approx(9.64)
    assert (t2["reason"], t2["exit_date"], t2["hold_rows"]) == ("STOP_LOSS", str(w.dates[11]), 1)
    s = res["summary"]
    assert s["trades"] == 2 and s["win_rate"] == 50.0
    assert s["avg_return_pct"] == pytest.approx(0.64)
    assert s["total_return_pct"] == pytest.approx(1.28)
    assert s["profit_factor"] == pytest.approx(9.64 / 8.36, abs=1e-3)
    eq = 1e8 * (1 + 0.1 * 0.0964)
    assert res["equity_curve"][0]["equity"] == pytest.approx(eq)
    assert s["max_drawdown_pct"] == pytest.approx(0.84, abs=0.01)
    assert s["exposure_pct"] == pytest.approx(round(4 / 30 * 100, 2))
    std = np.std([9.64, -8.36], ddof=1)
    assert s["sharpe_ratio"] == pytest.approx(0.64 / std * np.sqrt(252 / 2), abs=1e-3)
    assert res["benchmark"] == {"code": "KS11", "return_pct": 10.0}
    assert res["alpha_pct"] == pytest.approx(s["total_return_compounded_pct"] - 10.0)
    assert set(res["by_grade"]) == {"A", "B"}
    assert res["by_grade"]["A"]["win_rate"] == 100.0


def test_closing_bet_exit_rule_and_open_trades() -> None:
    close = np.full((1, 12), 100.0)
    close[0, 6] = 106.0  # the day after the day-5 signal: target (≥ 105)
    w = make_window(close)
    res = run_backtest(
        w,
        _scripted({5: "S", 11: "A"}),
        strategy="closing_bet",
        exit_rule="closing_bet",
        cost_pct=0.0,
    )
    first, last = res["trades"]
    assert (first["reason"], first["exit_price"], first["hold_rows"]) == ("TARGET", 106.0, 1)
    assert first["net_return_pct"] == pytest.approx(6.0)
    assert last["reason"] == "" and last["exit_date"] is None  # no data after the last day
    assert res["summary"]["open_trades"] == 1 and res["summary"]["trades"] == 1
    flat = run_backtest(
        w,
        _scripted({1: "B"}),
        strategy="cb",
        exit_rule="closing_bet",
        tracking=TrackingPolicy(closing_hold_days=2),
    )
    assert flat["trades"][0]["reason"] == "TIME_EXIT"
    assert flat["trades"][0]["net_return_pct"] == pytest.approx(-0.36)


def test_closing_bet_backtest_runs_on_the_engine() -> None:
    w = _random_market()
    res = run_backtest(
        w,
        _p10_closing_bet(),
        strategy="closing_bet",
        exit_rule="closing_bet",
        start=w.dates[30],
    )
    assert res["summary"]["trades"] > 0
    assert set(res["by_grade"]) <= {"S", "A", "B"}
    for t in res["trades"]:
        if t["exit_date"] is not None:
            assert t["exit_date"] > t["signal_date"]


def test_bad_inputs() -> None:
    w = make_window(np.full((1, 5), 100.0))
    with pytest.raises(ValueError):
        run_backtest(w, _scripted({}), strategy="x", exit_rule="vcp", start="2030-01-01")
    with pytest.raises(ValueError):
        run_backtest(w, lambda _w: [{"ticker": "999999"}], strategy="x", exit_rule="vcp")
    with pytest.raises(ValueError):
        run_backtest(w, lambda _w: [{"entry_price": 1}], strategy="x", exit_rule="vcp")
    with pytest.raises(ValueError):
        run_backtest(w, _scripted({}), strategy="x", exit_rule="nope")  # type: ignore[arg-type]


def test_vcp_legacy_scan_plugs_into_the_replay() -> None:
    """A planted VCP (wide then tight range, near the high, heavy buying) is found and tracked."""
    days = 90
    close = np.full((2, days), 100.0)
    high = close + 1.0
    low = close - 1.0
    # Ticker 1: 10 wide days then 10 tight days ending on day 79, near the 20-day high.
    close[0, 60:70] = [90, 110] * 5
    high[0, 60:70] = close[0, 60:70] + 1
    low[0, 60:70] = close[0, 60:70] - 1
    close[0, 70:80] = 108.0
    high[0, 70:80] = 108.5
    low[0, 70:80] = 107.5
    close[0, 80:] = 109.0
    high[0, 80:] = 109.5
    low[0, 80:] = 108.5
    flows = np.zeros((2, days))
    flows[0] = 1_000_000.0  # shares per day, foreign and institutional
    volume = np.full((2, days), 1_000_000.0)
    w = make_window(close, high=high, low=low, volume=volume, foreign=flows, inst=flows)
    policy = SignalPolicy()
    scan = scan_function("vcp-legacy", policy)
    on_day = scan(w.up_to(w.dates[79]))
    assert [s["ticker"] for s in on_day] == ["000001"]
    assert on_day[0]["entry_price"] == 108.0
    res = run_backtest(
        w,
        scan,
        strategy="vcp",
        exit_rule="vcp",
        start=w.dates[79],
        end=w.dates[79],
        tracking=policy.tracking,
    )
    (trade,) = res["trades"]
    assert trade["reason"] == "TIME_EXIT" and trade["exit_price"] == 109.0
    assert trade["net_return_pct"] == pytest.approx((109 / 108 - 1) * 100 - 0.36, abs=1e-4)
