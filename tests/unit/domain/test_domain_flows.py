"""Investor flows (§4.1): daily rows → windows, the supply-demand index, labels, flags and the
SmartMoneyScreener, with every threshold tested just below, at and just above, in SHARES."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydantic import ValidationError

from krstock.domain.flows import (
    FlowPolicy,
    FlowWindows,
    InvestorTrendThresholds,
    analyze_flows,
    analyze_market_flows,
    double_buy,
    flow_windows,
    grade_of,
    investor_momentum,
    market_flow_windows,
    percentile_clip,
    screen_smart_money,
    signal_type,
    smart_money_score,
    stage_of,
    supply_demand_index_raw,
    trend_label,
    trend_rows,
)
from krstock.domain.market import MarketWindow

POLICY = FlowPolicy()
NAN = np.nan


def make(
    f: dict[int, float] | None = None,
    i: dict[int, float] | None = None,
    vol: float = 10_000_000.0,
    f_ratio20: float | None = None,
    i_ratio20: float | None = None,
    f_streak: int = 0,
    i_streak: int = 0,
    unit: str = "shares",
) -> FlowWindows:
    """One-ticker aggregates chosen directly (ratios follow net ÷ volume unless given)."""
    f = {5: 0.0, 10: 0.0, 20: 0.0, 60: 0.0} | (f or {})
    i = {5: 0.0, 10: 0.0, 20: 0.0, 60: 0.0} | (i or {})
    volume = {n: np.array([vol]) for n in (5, 10, 20, 60)}
    f_ratio = {n: np.array([f[n] / vol * 100]) for n in f}
    i_ratio = {n: np.array([i[n] / vol * 100]) for n in i}
    if f_ratio20 is not None:
        f_ratio[20] = np.array([f_ratio20])
    if i_ratio20 is not None:
        i_ratio[20] = np.array([i_ratio20])
    return FlowWindows(
        unit=unit,  # type: ignore[arg-type]
        rows=np.array([60]),
        foreign_net={n: np.array([v]) for n, v in f.items()},
        inst_net={n: np.array([v]) for n, v in i.items()},
        volume=volume,
        foreign_ratio=f_ratio,
        inst_ratio=i_ratio,
        foreign_streak=np.array([f_streak]),
        inst_streak=np.array([i_streak]),
    )


def window_from_flows(foreign: np.ndarray, inst: np.ndarray, volume: np.ndarray) -> MarketWindow:
    tickers, days = foreign.shape
    price = np.full((tickers, days), 10_000.0)
    return MarketWindow(
        tickers=np.array([f"{k:06d}" for k in range(tickers)]),
        dates=np.arange(np.datetime64("2026-01-01"), np.datetime64("2026-01-01") + days),
        open=price,
        high=price,
        low=price,
        close=price,
        volume=volume,
        trading_value=volume * price,
        halted=np.zeros((tickers, days), dtype=bool),
        foreign_net_shares=foreign,
        inst_net_shares=inst,
        foreign_net_krw=foreign * price,
        inst_net_krw=inst * price,
        names=np.array(["x"] * tickers, dtype=object),
        markets=np.array(["KOSPI"] * tickers, dtype=object),
    )


# ----------------------------------------------------------------- daily rows → windows


def test_windows_from_daily_rows_sums_ratios_and_streaks() -> None:
    days = 70
    foreign = np.zeros((1, days))
    foreign[0, -5:] = [10, 20, 30, 40, 50]
    foreign[0, -8:-5] = -1
    inst = np.ones((1, days))
    inst[0, -3] = -5
    volume = np.full((1, days), 100.0)
    w = flow_windows(foreign, inst, volume, "shares")
    assert w.foreign_net[5][0] == 150 and w.foreign_net[10][0] == 147
    assert w.inst_net[5][0] == 4 - 5 and w.inst_net[60][0] == 59 - 5
    assert w.volume[5][0] == 500 and w.volume[60][0] == 6000  # only the last 60 rows
    assert w.foreign_ratio[5][0] == pytest.approx(150 / 500 * 100)
    assert w.foreign_streak[0] == 5 and w.inst_streak[0] == 2
    assert w.rows[0] == days and w.unit == "shares"


def test_missing_days_are_not_rows_and_no_rows_is_nan() -> None:
    foreign = np.array([[1.0, 2.0, NAN, 3.0, 4.0, 5.0, 6.0], [NAN] * 7])
    inst = np.array([[1.0] * 7, [1.0] * 7])
    volume = np.full((2, 7), 10.0)
    w = flow_windows(foreign, inst, volume, "shares")
    # The missing day is skipped: the last 5 rows are 2, 3, 4, 5, 6.
    assert w.foreign_net[5][0] == 20 and w.volume[5][0] == 50 and w.rows[0] == 6
    assert w.foreign_streak[0] == 6
    assert np.isnan(w.foreign_net[5][1]) and np.isnan(w.foreign_ratio[20][1]) and w.rows[1] == 0
    analysis = analyze_flows(w, POLICY)
    assert np.isnan(analysis.supply_demand_index[1]) and analysis.supply_demand_stage[1] == ""
    assert np.isnan(analysis.smart_money_score[1])


def test_flow_windows_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unit"):
        flow_windows(np.ones((1, 3)), np.ones((1, 3)), np.ones((1, 3)), "usd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        flow_windows(np.ones((1, 3)), np.ones((1, 4)), np.ones((1, 3)), "shares")


def test_end_to_end_daily_rows_to_score_and_csv_row() -> None:
    """Lesson 4: the score is computed from the daily rows, not from columns nothing fills."""
    days = 60
    foreign = np.full((2, days), 100_000.0)  # 6M over 60 days, 2M over 20
    inst = np.full((2, days), 60_000.0)  # 3.6M / 1.2M
    foreign[1] *= -1
    inst[1] *= -1
    volume = np.full((2, days), 500_000.0)  # 10M over 20 days
    window = window_from_flows(foreign, inst, volume)
    analysis = analyze_market_flows(window, FlowPolicy(percentile_clip=False))
    # Buyer: inst base 40→35, recent 1.2M/(3.6M+1)*10, ratio 12% → 5; foreign base 40→35,
    # recent, ratio 20% → 5; factor 1.0.
    inst_score = 35 + 1_200_000 / 3_600_001 * 10 + 5
    foreign_score = 35 + 2_000_000 / 6_000_001 * 10 + 5
    assert analysis.supply_demand_index[0] == pytest.approx(inst_score + foreign_score)
    assert analysis.supply_demand_stage[0] == "강한매집"
    assert (
        analysis.inst_trend[0] == "strong_buying" and analysis.foreign_trend[0] == "strong_buying"
    )
    assert analysis.double_buy[0] and analysis.signal_type[0] == "DOUBLE_BUY"
    assert analysis.smart_money_score[0] > 80 and analysis.grade[0] == "A"
    assert analysis.foreign_trend[1] == "strong_selling"
    # The seller still earns the "recent" part: (−1.2M) ÷ (−3.6M + 1) is positive (monolith).
    assert analysis.supply_demand_index[1] == pytest.approx(2 * (10 + 1_200_000 / 3_599_999 * 10))
    assert analysis.supply_demand_stage[1] == "분산"
    rows = trend_rows(analysis, window.tickers)
    assert rows[0]["foreign_net_buy_5d"] == 500_000 and rows[0]["institutional_ratio_20d"] == 12.0
    assert rows[0]["unit"] == "shares" and rows[0]["supply_demand_stage"] == "강한매집"
    assert {"total_volume_60d", "accumulation_intensity", "momentum_score"} <= rows[0].keys()


def test_krw_windows_use_trading_value() -> None:
    foreign = np.full((1, 20), 10.0)
    window = window_from_flows(foreign, foreign, np.full((1, 20), 100.0))
    w = market_flow_windows(window, "krw")
    assert w.unit == "krw"
    assert w.foreign_net[5][0] == 5 * 10 * 10_000 and w.volume[5][0] == 5 * 100 * 10_000
    assert w.foreign_ratio[5][0] == pytest.approx(10.0)
    with pytest.raises(ValueError):
        market_flow_windows(window, "usd")  # type: ignore[arg-type]


# ----------------------------------------------------------------- units


def test_share_thresholds_refuse_krw_flows() -> None:
    krw = make(unit="krw")
    with pytest.raises(ValueError, match="share thresholds"):
        analyze_flows(krw, POLICY)
    with pytest.raises(ValueError):
        supply_demand_index_raw(krw, POLICY)
    with pytest.raises(ValueError):
        smart_money_score(krw, POLICY)


def test_a_krw_policy_must_restate_its_amounts() -> None:
    with pytest.raises(ValidationError, match="KRW"):
        FlowPolicy(unit="krw")
    amounts = {
        "inst_scale": 6e10,
        "foreign_scale": 1e11,
        "volume_scale": 1e11,
        "inst_trend": InvestorTrendThresholds(
            strong_buy=3e10, buy=1e10, sell=-1e10, strong_sell=-3e10, high_ratio=8, buy_ratio=3
        ),
        "foreign_trend": InvestorTrendThresholds(
            strong_buy=5e10, buy=2e10, sell=-2e10, strong_sell=-5e10, high_ratio=12, buy_ratio=5
        ),
        "strong_acc_inst20": 2e10,
        "strong_acc_foreign20": 3e10,
        "strong_acc_volume20": 1e10,
        "screener_foreign60_scale": 1e11,
        "screener_inst60_scale": 5e10,
    }
    policy = FlowPolicy(unit="krw", **amounts)
    analysis = analyze_flows(make(unit="krw"), policy)
    assert analysis.unit == "krw"
    with pytest.raises(ValueError):
        analyze_flows(make(), policy)


def test_policy_is_frozen_and_strict() -> None:
    with pytest.raises(ValidationError):
        FlowPolicy(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        POLICY.inst_scale = 1  # type: ignore[misc]


# ----------------------------------------------------------------- supply-demand index


def test_index_exact_formula_including_the_negative_over_negative_recent_term() -> None:
    w = make(
        i={60: 1_200_000, 20: 600_000},
        f={60: -2_000_000, 20: -500_000},
        vol=5_000_000,
    )
    inst = 30 + 600_000 / 1_200_001 * 10 + 5  # ratio 12 % → 5.5 clamped to 5
    # recent = (−500k) ÷ (−2M + 1) × 10 is positive: the monolith's formula, kept as is.
    foreign = 20 + (-500_000) / (-1_999_999) * 10 + 0  # ratio −10 % → 0
    expected = (inst + foreign) * (0.8 + 0.2 * 0.5)
    assert supply_demand_index_raw(w, POLICY)[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("net60", "base"),
    [(-6_000_001, 0.0), (-6_000_000, 0.0), (0, 25.0), (2_400_000, 35.0), (2_400_001, 35.0)],
)
def test_index_base_clamp_inst(net60: float, base: float) -> None:
    w = make(i={60: net60}, vol=10_000_000)
    # foreign: base 25, recent 0, ratio 2.5; inst: base, recent 0, ratio 2.5; factor 1.
    assert supply_demand_index_raw(w, POLICY)[0] == pytest.approx(base + 2.5 + 25 + 2.5)


@pytest.mark.parametrize(
    ("vol20", "factor"),
    [(9_999_999, 0.8 + 0.2 * 0.9999999), (10_000_000, 1.0), (10_000_001, 1.0), (0, 0.8)],
)
def test_index_volume_factor_boundary(vol20: float, factor: float) -> None:
    w = make()
    w.volume[20][0] = vol20
    assert supply_demand_index_raw(w, POLICY)[0] == pytest.approx(55 * factor)


@pytest.mark.parametrize(("ratio20", "part"), [(9.99, 4.9975), (10, 5.0), (10.01, 5.0), (-10, 0)])
def test_index_ratio_part_clamp(ratio20: float, part: float) -> None:
    w = make(i_ratio20=ratio20)
    assert supply_demand_index_raw(w, POLICY)[0] == pytest.approx(25 + part + 27.5)


def test_index_recent_part_clamps_at_ten() -> None:
    w = make(f={60: 1_000_000, 20: 2_000_000})
    foreign = 27.5 + 10 + 5  # ratio 20 % → 7.5, clamped to 5
    assert supply_demand_index_raw(w, POLICY)[0] == pytest.approx(foreign + 27.5)


@pytest.mark.parametrize(
    ("value", "stage"),
    [
        (85, "강한매집"),
        (84.99, "매집"),
        (70, "매집"),
        (69.99, "약매집"),
        (60, "약매집"),
        (59.99, "중립"),
        (40, "중립"),
        (39.99, "약분산"),
        (30, "약분산"),
        (29.99, "분산"),
        (15, "분산"),
        (14.99, "강한분산"),
        (0, "강한분산"),
    ],
)
def test_stage_cut_offs(value: float, stage: str) -> None:
    assert stage_of(np.array([value]), POLICY)[0] == stage


def test_percentile_clip_is_on_by_default_and_stage_uses_the_raw_index() -> None:
    n = 101
    f60 = np.linspace(-9_000_000, 3_900_000, n)  # inside the base clamp: all distinct
    w = make()
    w = FlowWindows(
        unit="shares",
        rows=np.full(n, 60),
        foreign_net={k: f60 if k == 60 else np.zeros(n) for k in (5, 10, 20, 60)},
        inst_net={k: np.zeros(n) for k in (5, 10, 20, 60)},
        volume={k: np.full(n, 10_000_000.0) for k in (5, 10, 20, 60)},
        foreign_ratio={k: np.zeros(n) for k in (5, 10, 20, 60)},
        inst_ratio={k: np.zeros(n) for k in (5, 10, 20, 60)},
        foreign_streak=np.zeros(n, dtype=np.int64),
        inst_streak=np.zeros(n, dtype=np.int64),
    )
    clipped = analyze_flows(w, POLICY)
    raw = clipped.supply_demand_index_raw
    low, high = np.percentile(raw, [1, 99])
    assert clipped.supply_demand_index.min() == pytest.approx(low)
    assert low > raw.min() and high < raw.max()
    assert clipped.supply_demand_index.max() == pytest.approx(high)
    assert list(clipped.supply_demand_stage) == list(stage_of(raw, POLICY))
    unclipped = analyze_flows(w, FlowPolicy(percentile_clip=False))
    np.testing.assert_array_equal(unclipped.supply_demand_index, raw)


def test_percentile_clip_ignores_nan_and_all_nan() -> None:
    values = np.array([NAN, 1.0, 2.0, 3.0])
    out = percentile_clip(values, 0, 50)
    assert np.isnan(out[0]) and out[3] == 2.0
    assert np.isnan(percentile_clip(np.array([NAN, NAN]), 1, 99)).all()


# ----------------------------------------------------------------- trend labels (TrendConfig)


def label(net60: float, net20: float, net5: float, ratio20: float, who: str = "inst") -> str:
    thresholds = POLICY.inst_trend if who == "inst" else POLICY.foreign_trend
    out = trend_label(
        np.array([net60]), np.array([net20]), np.array([net5]), np.array([ratio20]), thresholds
    )
    return str(out[0])


@pytest.mark.parametrize(
    ("who", "strong", "buy", "high", "buy_ratio"),
    [("inst", 3_000_000, 1_000_000, 8, 3), ("foreign", 5_000_000, 2_000_000, 12, 5)],
)
def test_trend_label_boundaries(
    who: str, strong: float, buy: float, high: float, buy_ratio: float
) -> None:
    # strong_buying: net60 > strong AND net5 > 0 AND ratio20 > high.
    assert label(strong + 1, 0, 1, high + 0.01, who) == "strong_buying"
    assert label(strong, 0, 1, high + 0.01, who) == "buying"  # at: not strong
    assert label(strong + 1, 0, 0, high + 0.01, who) == "buying"  # net5 not > 0
    assert label(strong + 1, 0, 1, high, who) == "buying"  # ratio at: not strong
    # buying: net60 > buy AND (ratio20 > buy_ratio OR net20 > 0.4 net60).
    assert label(buy + 1, 0, 0, buy_ratio + 0.01, who) == "buying"
    assert label(buy, 0, 0, buy_ratio + 0.01, who) == "neutral"
    assert label(buy + 1, 0, 0, buy_ratio, who) == "neutral"
    assert label(buy + 10, 0.4 * (buy + 10) + 1, 0, 0, who) == "buying"
    assert label(buy + 10, 0.4 * (buy + 10), 0, 0, who) == "neutral"
    # The selling side mirrors.
    assert label(-strong - 1, 0, -1, -high - 0.01, who) == "strong_selling"
    assert label(-strong, 0, -1, -high - 0.01, who) == "selling"
    assert label(-buy - 1, 0, 0, -buy_ratio - 0.01, who) == "selling"
    assert label(-buy, 0, 0, -buy_ratio - 0.01, who) == "neutral"
    assert label(-buy - 10, 0.4 * (-buy - 10) - 1, 0, 0, who) == "selling"
    assert label(-buy - 10, 0.4 * (-buy - 10), 0, 0, who) == "neutral"


# ----------------------------------------------------------------- accumulation flags


def strong_base() -> dict[str, object]:
    return {
        "i": {20: 2_000_001, 5: 1},
        "f": {20: 3_000_001, 5: 1},
        "vol": 1_000_001,
        "i_ratio20": 8.01,
        "f_ratio20": 0.0,
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),
        ({"i": {20: 2_000_000, 5: 1}}, False),
        ({"f": {20: 3_000_000, 5: 1}}, False),
        ({"i": {20: 2_000_001, 5: 0}}, False),
        ({"f": {20: 3_000_001, 5: 0}}, False),
        ({"i_ratio20": 8.0}, False),
        ({"i_ratio20": 8.0, "f_ratio20": 12.01}, True),
        ({"i_ratio20": 8.0, "f_ratio20": 12.0}, False),
        ({"vol": 1_000_000}, False),
    ],
)
def test_strong_accumulation_boundaries(change: dict[str, object], expected: bool) -> None:
    args = strong_base() | change
    assert bool(analyze_flows(make(**args), POLICY).strong_accumulation[0]) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("i20", "f20", "ir", "fr", "expected"),
    [
        (1, 1, 3.01, 0, True),
        (1, 1, 3.0, 0, False),
        (1, 1, 0, 5.01, True),
        (1, 1, 0, 5.0, False),
        (0, 1, 3.01, 0, False),
        (1, 0, 3.01, 0, False),
    ],
)
def test_accumulation_signal_boundaries(
    i20: float, f20: float, ir: float, fr: float, expected: bool
) -> None:
    w = make(i={20: i20}, f={20: f20}, i_ratio20=ir, f_ratio20=fr)
    assert bool(analyze_flows(w, POLICY).accumulation_signal[0]) is expected


@pytest.mark.parametrize(
    ("ratio_sum", "intensity"),
    [
        (25.01, "매우강함"),
        (25, "강함"),
        (15.01, "강함"),
        (15, "보통"),
        (8.01, "보통"),
        (8, "약함"),
        (0.01, "약함"),
        (0, "매도세"),
        (-5, "매도세"),
    ],
)
def test_accumulation_intensity_boundaries(ratio_sum: float, intensity: str) -> None:
    w = make(i_ratio20=ratio_sum, f_ratio20=0.0)
    assert analyze_flows(w, POLICY).accumulation_intensity[0] == intensity


def test_momentum_formula_and_zero_previous() -> None:
    m = investor_momentum(np.array([100.0, 200.0, 50.0]), np.array([400.0, 300.0, 50.0]))
    np.testing.assert_allclose(m, [0.0, 500.0, 0.0])
    w = make(i={5: 200, 20: 300}, f={5: 100, 20: 400})
    assert analyze_flows(w, POLICY).momentum_score[0] == pytest.approx(250.0)


# ----------------------------------------------------------------- SmartMoneyScreener


def score(**kwargs: object) -> float:
    return float(smart_money_score(make(**kwargs), POLICY)[0])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("f60", "part"),
    [
        (10_000_000, 25),
        (10_000_001, 25),
        (9_999_999, 25 * 0.9999999),
        (5_000_000, 12.5),
        (0, 0),
        (-5_000_000, -7.5),
        (-10_000_000, -15),
        (-20_000_000, -15),
    ],
)
def test_screener_foreign60_component(f60: float, part: float) -> None:
    # Ratios pinned to 0 so only the net60 term moves.
    assert score(f={60: f60}, f_ratio20=0, i_ratio20=0) == pytest.approx(50 + part)


@pytest.mark.parametrize(
    ("i60", "part"),
    [(5_000_000, 20), (4_999_999, 20 * 0.9999998), (5_000_001, 20), (-5_000_000, -10), (-1, -2e-6)],
)
def test_screener_inst60_component(i60: float, part: float) -> None:
    assert score(i={60: i60}, f_ratio20=0, i_ratio20=0) == pytest.approx(50 + part)


@pytest.mark.parametrize(
    ("f_streak", "i_streak", "part"),
    [(9, 0, 13.5), (10, 0, 15), (11, 0, 15), (0, 4, 8), (0, 5, 10), (0, 6, 10)],
)
def test_screener_streak_components(f_streak: int, i_streak: int, part: float) -> None:
    assert score(f_streak=f_streak, i_streak=i_streak) == pytest.approx(50 + part)


@pytest.mark.parametrize(
    ("ratio_sum", "part"),
    [(29.97, 19.98), (30, 20), (31, 20), (-15, -10), (-16, -10), (-14.97, -9.98)],
)
def test_screener_ratio_component(ratio_sum: float, part: float) -> None:
    assert score(f_ratio20=ratio_sum, i_ratio20=0) == pytest.approx(50 + part)


@pytest.mark.parametrize(
    ("f5", "f20", "part"),
    [
        (100, 300, (300 - 200) / 200 * 5),  # m = 0.5 → +2.5
        (200, 300, 10),  # m = 5 → capped at +10
        (100, 100, 0),  # previous 15 days sum to 0 → m = 0
        (-100, 900, -5),  # m = (−300 − 1000)/1000 → −6.5 → floor −5
        (120, 300, 10),  # m = (360 − 180)/180 = 1 → 5... see below
    ],
)
def test_screener_momentum_component(f5: float, f20: float, part: float) -> None:
    if f5 == 120:
        part = min((360 - 180) / 180 * 5, 10)
    # Volume huge so the ratio term is ~0; net60 zero.
    got = score(f={5: f5, 20: f20}, vol=1e15)
    assert got == pytest.approx(50 + part, abs=1e-6)


def test_screener_maximum_is_reachable_and_clamped() -> None:
    """Lesson 2: the best case reaches 100 (50 + 25 + 15 + 20 + 10 + 20 + 10 = 150 → 100)."""
    best = score(
        f={60: 20_000_000, 5: 300, 20: 300},
        i={60: 10_000_000},
        f_streak=12,
        i_streak=7,
        f_ratio20=20,
        i_ratio20=20,
    )
    assert best == 100.0
    worst = score(
        f={60: -20_000_000, 5: -300, 20: 600},
        i={60: -10_000_000},
        f_ratio20=-30,
        i_ratio20=-30,
    )
    assert worst == pytest.approx(50 - 15 - 10 - 10 - 5)


@pytest.mark.parametrize(
    ("f5", "i5", "fs", "is_", "expected"),
    [
        (1, 1, 3, 2, True),
        (0, 1, 3, 2, False),
        (1, 0, 3, 2, False),
        (1, 1, 2, 2, False),
        (1, 1, 3, 1, False),
        (1, 1, 4, 3, True),
    ],
)
def test_double_buy_boundaries(f5: float, i5: float, fs: int, is_: int, expected: bool) -> None:
    w = make(f={5: f5}, i={5: i5}, f_streak=fs, i_streak=is_)
    assert bool(double_buy(w, POLICY)[0]) is expected


@pytest.mark.parametrize(
    ("f5", "i5", "fs", "is_", "kind"),
    [
        (1, 1, 3, 2, "DOUBLE_BUY"),
        (1, -1, 5, 0, "FOREIGNER_BUY"),
        (1, -1, 4, 3, "INST_SCOOP"),
        (1, -1, 4, 2, "FOREIGNER_BUY"),
        (-1, 1, 0, 3, "INST_SCOOP"),
    ],
)
def test_signal_types(f5: float, i5: float, fs: int, is_: int, kind: str) -> None:
    w = make(f={5: f5}, i={5: i5}, f_streak=fs, i_streak=is_)
    assert signal_type(w, POLICY)[0] == kind


def test_grades_at_boundaries() -> None:
    values = np.array([80, 79.99, 70, 69.99, 60, 59.99, 0])
    assert list(grade_of(values, POLICY)) == ["A", "B", "B", "C", "C", "D", "D"]


def test_screen_keeps_scores_from_50_best_first_top_n() -> None:
    n = 4
    f60 = np.array([0.0, -1.0, 4_000_000.0, 2_000_000.0])  # scores 50, <50, 60, 55
    zeros = {k: np.zeros(n) for k in (5, 10, 20, 60)}
    w = FlowWindows(
        unit="shares",
        rows=np.full(n, 60),
        foreign_net={**zeros, 60: f60},
        inst_net=zeros,
        volume={k: np.full(n, 1e7) for k in (5, 10, 20, 60)},
        foreign_ratio=zeros,
        inst_ratio=zeros,
        foreign_streak=np.zeros(n, dtype=np.int64),
        inst_streak=np.zeros(n, dtype=np.int64),
    )
    analysis = analyze_flows(w, POLICY)
    picked = screen_smart_money(analysis, ["A", "B", "C", "D"], POLICY)
    assert [p["ticker"] for p in picked] == ["C", "D", "A"]
    assert picked[0]["score"] == 60.0 and picked[0]["grade"] == "C"
    top = screen_smart_money(analysis, ["A", "B", "C", "D"], FlowPolicy(screener_top_n=1))
    assert [p["ticker"] for p in top] == ["C"]


@pytest.mark.parametrize(
    ("value", "intensity"),
    [
        (80, "매우강함"),
        (79.99, "강함"),
        (65, "강함"),
        (64.99, "보통"),
        (50, "보통"),
        (49.99, "약함"),
        (35, "약함"),
        (34.99, "매도세"),
    ],
)
def test_screener_intensity_cut_offs(value: float, intensity: str) -> None:
    from krstock.domain.flows import screener_intensity

    assert screener_intensity(np.array([value]))[0] == intensity


def test_trend_rows_leave_out_tickers_without_flows() -> None:
    foreign = np.array([[1.0] * 10, [np.nan] * 10])
    window = window_from_flows(foreign, np.ones((2, 10)), np.full((2, 10), 10.0))
    rows = trend_rows(analyze_market_flows(window, POLICY), window.tickers)
    assert [r["ticker"] for r in rows] == ["000000"]
    assert rows[0]["total_days"] == 10 and rows[0]["foreign_consecutive_days"] == 10


@pytest.mark.parametrize(
    ("net60", "base"),
    [
        (3_999_999, 35 - 25 / 10_000_000),
        (4_000_000, 35.0),
        (4_000_001, 35.0),
        (-9_999_999, 25 / 10_000_000),
        (-10_000_000, 0.0),
        (-10_000_001, 0.0),
    ],
)
def test_index_base_clamp_foreign_scale_10m(net60: float, base: float) -> None:
    w = make(f={60: net60}, f_ratio20=0.0)
    assert supply_demand_index_raw(w, POLICY)[0] == pytest.approx(base + 2.5 + 25 + 2.5, abs=1e-9)


@pytest.mark.parametrize(
    ("net60", "base"),
    [(2_399_999, 35 - 25 / 6_000_000), (-5_999_999, 25 / 6_000_000), (-6_000_001, 0.0)],
)
def test_index_base_clamp_inst_scale_6m_just_inside(net60: float, base: float) -> None:
    w = make(i={60: net60}, i_ratio20=0.0)
    assert supply_demand_index_raw(w, POLICY)[0] == pytest.approx(base + 2.5 + 25 + 2.5, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(
    foreign=arrays(
        np.float64,
        (3, 70),
        elements=st.one_of(st.floats(-5e6, 5e6, allow_nan=False), st.just(np.nan)),
    ),
    inst=arrays(np.float64, (3, 70), elements=st.floats(-3e6, 3e6, allow_nan=False)),
    volume=arrays(np.float64, (3, 70), elements=st.one_of(st.just(0.0), st.floats(1, 2e7))),
)
def test_scores_stay_in_range_for_any_daily_flows(
    foreign: np.ndarray, inst: np.ndarray, volume: np.ndarray
) -> None:
    analysis = analyze_flows(flow_windows(foreign, inst, volume, "shares"), POLICY)
    for values in (
        analysis.supply_demand_index,
        analysis.supply_demand_index_raw,
        analysis.smart_money_score,
    ):
        finite = values[np.isfinite(values)]
        assert ((finite >= 0) & (finite <= 100)).all()
    assert list(analysis.supply_demand_stage) == list(
        stage_of(analysis.supply_demand_index_raw, POLICY)
    )
    streaks = analysis.windows.foreign_streak
    assert ((streaks >= 0) & (streaks <= 60)).all()
