"""vcp-legacy: SignalTracker's rule and the Gen0 final_score ranking, at every boundary."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from krstock.domain.flows import FlowPolicy, analyze_market_flows
from krstock.domain.market import MarketWindow
from krstock.domain.vcp_legacy import (
    VcpLegacyPolicy,
    detect_vcp_forming,
    final_score,
    flow_gate,
    rank_signals,
    scan_legacy_signals,
)

POLICY = VcpLegacyPolicy()


def bars(last_range: float = 8.0, last_close: float = 99.0, max_close: float = 100.0) -> dict:
    """20 rows: the first 10 span 90–110 (range 20); the last 10 span ``last_range`` under 100."""
    high = np.r_[np.full(10, 110.0), np.full(10, 100.0)]
    low = np.r_[np.full(10, 90.0), np.full(10, 100.0 - last_range)]
    close = np.r_[np.full(10, 95.0), np.full(9, 97.0), [last_close]]
    close[5] = max_close
    volume = np.full(20, 1000.0)
    return {"high": high, "low": low, "close": close, "volume": volume}


def shape(policy: VcpLegacyPolicy = POLICY, **kwargs: float) -> tuple[float, bool, bool]:
    b = bars(**kwargs)
    out = detect_vcp_forming(b["high"], b["low"], b["close"], b["volume"], policy)
    return float(out.contraction[0]), bool(out.near_high[0]), bool(out.is_vcp[0])


# ----------------------------------------------------------------- detect_vcp_forming


@pytest.mark.parametrize(
    ("last_range", "is_vcp"), [(15.99, True), (16.0, True), (16.01, False), (4.0, True)]
)
def test_contraction_boundary(last_range: float, is_vcp: bool) -> None:
    contraction, near_high, vcp = shape(last_range=last_range)
    assert contraction == pytest.approx(last_range / 20.0)
    assert near_high and vcp is is_vcp


@pytest.mark.parametrize(("last_close", "near"), [(91.99, False), (92.0, True), (92.01, True)])
def test_near_high_boundary(last_close: float, near: bool) -> None:
    assert 0.92 * 100.0 == 92.0  # the boundary is exact in floating point
    _, near_high, vcp = shape(last_close=last_close)
    assert near_high is near and vcp is near


def test_zero_first_range_rejects() -> None:
    flat = np.full(20, 100.0)
    out = detect_vcp_forming(flat, flat, flat, flat, POLICY)
    assert np.isnan(out.contraction[0]) and not out.is_vcp[0]


def test_short_history_rejects_and_missing_rows_are_skipped() -> None:
    b = bars()
    short = detect_vcp_forming(b["high"][1:], b["low"][1:], b["close"][1:], b["volume"][1:], POLICY)
    assert not short.is_vcp[0] and np.isnan(short.entry_price[0])
    # A missing day (NaN row) inside the history is not a row: the last 20 rows are used.
    gappy = {k: np.r_[v[:5], [np.nan], v[5:]] for k, v in b.items()}
    out = detect_vcp_forming(gappy["high"], gappy["low"], gappy["close"], gappy["volume"], POLICY)
    assert out.is_vcp[0] and out.contraction[0] == pytest.approx(0.4)


def test_volume_check_is_off_by_default_and_strict_when_on() -> None:
    b = bars()
    b["volume"][10:] = 1200.0  # last half = 1.2 × first half
    on = VcpLegacyPolicy(volume_check=True)
    default = detect_vcp_forming(b["high"], b["low"], b["close"], b["volume"], POLICY)
    assert default.is_vcp[0] and not default.volume_ok[0]
    assert not detect_vcp_forming(b["high"], b["low"], b["close"], b["volume"], on).is_vcp[0]
    b["volume"][10:] = 1199.0
    assert detect_vcp_forming(b["high"], b["low"], b["close"], b["volume"], on).is_vcp[0]


@pytest.mark.parametrize(
    ("foreign", "index", "ok"),
    [
        (49_999, 70, False),
        (50_000, 70, True),
        (50_001, 70, True),
        (60_000, 59.99, False),
        (60_000, 60.0, True),
        (np.nan, 70, False),
    ],
)
def test_flow_gate_boundaries_in_shares(foreign: float, index: float, ok: bool) -> None:
    assert bool(flow_gate(np.array([foreign]), np.array([index]), POLICY)[0]) is ok


# ----------------------------------------------------------------- the scan over a window


def window(foreign_daily: list[float], inst_daily: float = 50_000.0) -> MarketWindow:
    """Tickers with a VCP-shaped last 20 days and 60 days of flows."""
    n, days = len(foreign_daily), 60
    b = bars()
    high = np.tile(np.r_[np.full(40, 105.0), b["high"]], (n, 1))
    low = np.tile(np.r_[np.full(40, 95.0), b["low"]], (n, 1))
    close = np.tile(np.r_[np.full(40, 100.0), b["close"]], (n, 1))
    volume = np.full((n, days), 20_000.0)
    foreign = np.repeat(np.array(foreign_daily, dtype=float)[:, None], days, axis=1)
    inst = np.full((n, days), inst_daily)
    return MarketWindow(
        tickers=np.array([f"{k:06d}" for k in range(n)]),
        dates=np.arange(np.datetime64("2026-01-02"), np.datetime64("2026-01-02") + days),
        open=close,
        high=high,
        low=low,
        close=close,
        volume=volume,
        trading_value=volume * close,
        halted=np.zeros((n, days), dtype=bool),
        foreign_net_shares=foreign,
        inst_net_shares=inst,
        foreign_net_krw=foreign * close,
        inst_net_krw=inst * close,
        names=np.array(["x"] * n, dtype=object),
        markets=np.array(["KOSPI"] * n, dtype=object),
    )


def test_scan_emits_signals_log_rows_at_the_foreign_boundary() -> None:
    w = window([9_999.8, 10_000.0, 10_000.2])  # 5-day sums 49,999 / 50,000 / 50,001
    flows = analyze_market_flows(w, FlowPolicy(percentile_clip=False))
    assert (flows.supply_demand_index >= 60).all()
    signals = scan_legacy_signals(w, flows, POLICY)
    assert [s.ticker for s in signals] == ["000001", "000002"]
    row = signals[0].as_row()
    assert row == {
        "ticker": "000001",
        "signal_date": "2026-03-02",
        "foreign_5d": 50_000,
        "inst_5d": 250_000,
        "score": round(float(flows.supply_demand_index[1]), 1),
        "contraction_ratio": 0.4,
        "entry_price": 99.0,
    }


def test_scan_refuses_krw_flows_and_mismatched_universe() -> None:
    w = window([10_000.0])
    amounts = {
        name: 1.0
        for name in (
            "inst_scale",
            "foreign_scale",
            "volume_scale",
            "strong_acc_inst20",
            "strong_acc_foreign20",
            "strong_acc_volume20",
            "screener_foreign60_scale",
            "screener_inst60_scale",
        )
    }
    base = FlowPolicy()
    krw_policy = FlowPolicy(
        unit="krw", inst_trend=base.inst_trend, foreign_trend=base.foreign_trend, **amounts
    )
    krw = analyze_market_flows(w, krw_policy, unit="krw")
    with pytest.raises(ValueError, match="shares"):
        scan_legacy_signals(w, krw, POLICY)
    shares = analyze_market_flows(window([10_000.0, 10_000.0]), FlowPolicy())
    with pytest.raises(ValueError, match="same tickers"):
        scan_legacy_signals(w, shares, POLICY)


# ----------------------------------------------------------------- Gen0 final_score ranking


def test_final_score_golden_example() -> None:
    # 0.4·82.5 = 33; 0.3·0.59·100 = 17.7; 2·min(1,028,548 / 100,000, 30) = 20.57 → 71.27 → 71.3.
    assert final_score(82.5, 0.41, 1_036_584, -8_036, False, POLICY) == 71.3
    assert final_score(82.5, 0.41, 1_036_584, -8_036, True, POLICY) == 81.3


def test_final_score_flow_term_is_capped_at_30() -> None:
    capped = final_score(50, 0.5, 3_000_000, 0, False, POLICY)
    assert capped == final_score(50, 0.5, 9_000_000, 0, False, POLICY) == 20 + 15 + 60


def log_row(**kwargs: object) -> dict[str, object]:
    row: dict[str, object] = {
        "signal_date": "2026-02-05",
        "ticker": "000100",
        "foreign_5d": 100_000,
        "inst_5d": 0,
        "score": 70.0,
        "contraction_ratio": 0.5,
        "status": "OPEN",
    }
    row.update(kwargs)
    return row


@pytest.mark.parametrize(
    ("change", "kept"),
    [
        ({"contraction_ratio": 0.8}, True),
        ({"contraction_ratio": 0.8001}, False),
        ({"score": 50.0}, True),
        ({"score": 49.9}, False),
        ({"foreign_5d": -1, "inst_5d": -1}, False),
        ({"foreign_5d": -1, "inst_5d": 0}, True),
        ({"foreign_5d": 0, "inst_5d": -1}, True),
        ({"status": "CLOSED"}, False),
    ],
)
def test_ranking_filters_at_boundaries(change: dict[str, object], kept: bool) -> None:
    ranked = rank_signals([log_row(**change)], date(2026, 2, 6), POLICY)
    assert (ranked.total_filtered == 1) is kept


def test_ranking_sorts_adds_today_bonus_and_caps() -> None:
    rows = [
        log_row(ticker="A", score=60.0),
        log_row(ticker="B", score=80.0),
        log_row(ticker="C", score=60.0, signal_date="2026-02-06"),
    ]
    ranked = rank_signals(rows, "2026-02-06", POLICY)
    assert [r["ticker"] for r in ranked.signals] == ["C", "B", "A"]
    assert ranked.signals[0]["final_score"] == 24 + 15 + 2 + 10  # 51.0
    top = rank_signals(rows, date(2026, 2, 6), VcpLegacyPolicy(rank_top_n=2))
    assert len(top.signals) == 2 and top.total_filtered == 3


def test_real_signals_log_passes_the_rule_and_ranks(shared_data: Path) -> None:
    """Golden: every row the original engine logged satisfies our gate; the ranking runs on it."""
    log = pd.read_csv(
        shared_data / "legacy" / "signals_log.csv", dtype={"ticker": str}, encoding="utf-8-sig"
    )
    assert len(log) == 981
    gate = flow_gate(log["foreign_5d"].to_numpy(float), log["score"].to_numpy(float), POLICY)
    assert gate.all()
    assert (log["contraction_ratio"] <= POLICY.contraction_max).all()
    first = log.iloc[0]  # 2026-02-05,000100,253791,-77489,70.3,0.635
    assert final_score(70.3, 0.635, 253_791, -77_489, False, POLICY) == 42.6
    assert first["ticker"] == "000100" and first["score"] == 70.3
    records = [{str(k): v for k, v in row.items()} for row in log.to_dict("records")]
    ranked = rank_signals(records, "2026-02-27", POLICY)
    assert ranked.total_filtered == int((log["status"] == "OPEN").sum())
    scores = [r["final_score"] for r in ranked.signals]
    assert len(scores) == 20 and scores == sorted(scores, reverse=True)


def test_empty_window_is_a_clear_error() -> None:
    empty = np.empty((2, 0))
    with pytest.raises(ValueError, match="no days"):
        detect_vcp_forming(empty, empty, empty, empty, POLICY)
