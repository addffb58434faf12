"""Investor flows (§4.1): windowed net sums, ratios, streaks, the supply-demand index, trend labels,
accumulation flags, momentum and the SmartMoneyScreener score.

Units: the monolith's thresholds are in SHARES (Naver flows). The same arithmetic runs on KRW flows
(Gen2), but a policy carries one unit and data of another unit is refused (``ValueError``), so share
thresholds are never applied to won amounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from krstock.domain.indicators import align_valid_right, streak
from krstock.domain.market import MarketWindow

Unit = Literal["shares", "krw"]


class InvestorTrendThresholds(BaseModel):
    """TrendConfig of the institutional analyzer for one investor (amounts in the policy unit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strong_buy: float = Field(
        description="net60 above this (and net5 > 0, ratio20 > high_ratio) is strong_buying"
    )
    buy: float = Field(description="net60 above this (plus a ratio or recency check) is buying")
    sell: float = Field(description="net60 below this (plus a ratio or recency check) is selling")
    strong_sell: float = Field(
        description="net60 below this (and net5 < 0, ratio20 < -high_ratio) is strong_selling"
    )
    high_ratio: float = Field(ge=0, description="ratio20 (%) a strong label needs")
    buy_ratio: float = Field(
        ge=0, description="ratio20 (%) that alone confirms buying (3 inst, 5 foreign)"
    )


class FlowPolicy(BaseModel):
    """Monolith defaults of ``all_institutional_trend_data.py`` and ``screener.py``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: Unit = Field(
        "shares", description="unit of the flow thresholds; data in another unit is refused"
    )
    # Supply-demand index.
    inst_scale: float = Field(
        6_000_000, gt=0, description="institutional net60 scale of the index base"
    )
    foreign_scale: float = Field(
        10_000_000, gt=0, description="foreign net60 scale of the index base"
    )
    volume_scale: float = Field(
        10_000_000, gt=0, description="total_volume_20d giving the full volume factor"
    )
    percentile_clip: bool = Field(
        True,
        description="clip the index to its 1st-99th percentile over the universe (CSV cleaning)",
    )
    clip_low_pct: float = Field(1.0, ge=0, le=100, description="lower percentile of the clip")
    clip_high_pct: float = Field(99.0, ge=0, le=100, description="upper percentile of the clip")
    # Trend labels (TrendConfig).
    inst_trend: InvestorTrendThresholds = Field(
        default_factory=lambda: InvestorTrendThresholds(
            strong_buy=3_000_000,
            buy=1_000_000,
            sell=-1_000_000,
            strong_sell=-3_000_000,
            high_ratio=8,
            buy_ratio=3,
        )
    )
    foreign_trend: InvestorTrendThresholds = Field(
        default_factory=lambda: InvestorTrendThresholds(
            strong_buy=5_000_000,
            buy=2_000_000,
            sell=-2_000_000,
            strong_sell=-5_000_000,
            high_ratio=12,
            buy_ratio=5,
        )
    )
    # Accumulation flags.
    strong_acc_inst20: float = Field(
        2_000_000, description="strong_accumulation needs inst net20 above this"
    )
    strong_acc_foreign20: float = Field(
        3_000_000, description="strong_accumulation needs foreign net20 above this"
    )
    strong_acc_volume20: float = Field(
        1_000_000, description="strong_accumulation needs total_volume_20d above this"
    )
    # SmartMoneyScreener.
    screener_foreign60_scale: float = Field(
        10_000_000, gt=0, description="foreign net60 for the full ±component"
    )
    screener_inst60_scale: float = Field(
        5_000_000, gt=0, description="institutional net60 for the full ±component"
    )
    screener_min_score: float = Field(
        50, ge=0, le=100, description="run_screening keeps scores at or above this"
    )
    screener_top_n: int = Field(20, ge=1, description="run_screening keeps this many")
    double_buy_foreign_days: int = Field(
        3, ge=1, description="쌍끌이: foreign consecutive buy days at least"
    )
    double_buy_inst_days: int = Field(
        2, ge=1, description="쌍끌이: institutional consecutive buy days at least"
    )
    foreigner_buy_days: int = Field(
        5, ge=1, description="FOREIGNER_BUY when foreign consecutive days at least"
    )
    inst_scoop_days: int = Field(
        3, ge=1, description="INST_SCOOP when institutional consecutive days at least"
    )
    grade_a: float = Field(80, ge=0, le=100, description="grade A at or above this score")
    grade_b: float = Field(70, ge=0, le=100, description="grade B at or above this score")
    grade_c: float = Field(60, ge=0, le=100, description="grade C at or above this score")
    # Stage cut-offs of the index (and of the screener score).
    stage_strong_accumulation: float = Field(85, description="강한매집 at or above")
    stage_accumulation: float = Field(70, description="매집 at or above")
    stage_weak_accumulation: float = Field(60, description="약매집 at or above")
    stage_neutral: float = Field(40, description="중립 at or above")
    stage_weak_distribution: float = Field(30, description="약분산 at or above")
    stage_distribution: float = Field(15, description="분산 at or above; below is 강한분산")
    # Accumulation intensity from the sum of the two 20-day ratios (%).
    intensity_very_strong: float = Field(25, description="매우강함 above this ratio sum")
    intensity_strong: float = Field(15, description="강함 above this ratio sum")
    intensity_moderate: float = Field(8, description="보통 above this ratio sum; above 0 약함")

    @model_validator(mode="after")
    def _krw_needs_krw_thresholds(self) -> FlowPolicy:
        # The defaults are share counts; a KRW policy must restate every amount in won.
        if self.unit == "krw":
            missing = sorted(AMOUNT_FIELDS - self.model_fields_set)
            if missing:
                raise ValueError(f"a KRW flow policy must set its amounts in KRW: {missing}")
        return self


AMOUNT_FIELDS = frozenset(
    {
        "inst_scale",
        "foreign_scale",
        "volume_scale",
        "inst_trend",
        "foreign_trend",
        "strong_acc_inst20",
        "strong_acc_foreign20",
        "strong_acc_volume20",
        "screener_foreign60_scale",
        "screener_inst60_scale",
    }
)
WINDOWS = (5, 10, 20, 60)
STAGES = ("강한매집", "매집", "약매집", "중립", "약분산", "분산", "강한분산")
INTENSITIES = ("매우강함", "강함", "보통", "약함", "매도세")
TRENDS = ("strong_buying", "buying", "neutral", "selling", "strong_selling")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class FlowWindows:
    """Per-ticker flow aggregates over each ticker's last 5/10/20/60 flow rows.

    A flow row is a day where both investors' nets are present (the Naver table's rows); missing
    days are not rows, like the monolith's scraped table. ``volume`` is total volume in shares for
    share flows and trading value in KRW for KRW flows, so ratios are unit-free percentages.
    """

    unit: Unit
    rows: IntArray
    foreign_net: dict[int, FloatArray]
    inst_net: dict[int, FloatArray]
    volume: dict[int, FloatArray]
    foreign_ratio: dict[int, FloatArray]
    inst_ratio: dict[int, FloatArray]
    foreign_streak: IntArray
    inst_streak: IntArray


def flow_windows(
    foreign_net: npt.ArrayLike,
    inst_net: npt.ArrayLike,
    volume: npt.ArrayLike,
    unit: Unit,
) -> FlowWindows:
    """Net sums, total volume, ratios (net ÷ volume × 100) and consecutive-buy streaks."""
    if unit not in ("shares", "krw"):
        raise ValueError(f"unit must be 'shares' or 'krw', got {unit!r}")
    foreign = np.atleast_2d(np.asarray(foreign_net, dtype=np.float64))
    inst = np.atleast_2d(np.asarray(inst_net, dtype=np.float64))
    vol = np.atleast_2d(np.asarray(volume, dtype=np.float64))
    if not foreign.shape == inst.shape == vol.shape:
        raise ValueError(f"shape mismatch: {foreign.shape}, {inst.shape}, {vol.shape}")
    present = np.isfinite(foreign) & np.isfinite(inst)
    depth = max(WINDOWS)
    foreign_rows = align_valid_right(foreign, present)[:, -depth:]
    inst_rows = align_valid_right(inst, present)[:, -depth:]
    vol_rows = align_valid_right(np.where(np.isfinite(vol), vol, 0.0), present)[:, -depth:]
    rows = present.sum(axis=1).astype(np.int64)
    has_rows = rows > 0

    def window_sum(packed: FloatArray, days: int) -> FloatArray:
        return np.where(has_rows, np.nansum(packed[:, -days:], axis=1), np.nan)

    def ratio(net: FloatArray, total: FloatArray) -> FloatArray:
        with np.errstate(all="ignore"):
            return np.where(total > 0, net / total * 100.0, np.where(has_rows, 0.0, np.nan))

    foreign_sum = {n: window_sum(foreign_rows, n) for n in WINDOWS}
    inst_sum = {n: window_sum(inst_rows, n) for n in WINDOWS}
    vol_sum = {n: window_sum(vol_rows, n) for n in WINDOWS}
    return FlowWindows(
        unit=unit,
        rows=rows,
        foreign_net=foreign_sum,
        inst_net=inst_sum,
        volume=vol_sum,
        foreign_ratio={n: ratio(foreign_sum[n], vol_sum[n]) for n in WINDOWS},
        inst_ratio={n: ratio(inst_sum[n], vol_sum[n]) for n in WINDOWS},
        foreign_streak=streak(foreign_rows),
        inst_streak=streak(inst_rows),
    )


def market_flow_windows(window: MarketWindow, unit: Unit = "shares") -> FlowWindows:
    """``flow_windows`` on a MarketWindow: share flows with volume, or KRW flows with value."""
    if unit == "shares":
        return flow_windows(
            window.foreign_net_shares, window.inst_net_shares, window.volume, "shares"
        )
    if unit == "krw":
        return flow_windows(
            window.foreign_net_krw, window.inst_net_krw, window.trading_value, "krw"
        )
    raise ValueError(f"unit must be 'shares' or 'krw', got {unit!r}")


def _check_unit(windows: FlowWindows, policy: FlowPolicy) -> None:
    if windows.unit != policy.unit:
        raise ValueError(
            f"flows are in {windows.unit} but the policy thresholds are in {policy.unit}; "
            "never apply share thresholds to KRW amounts (or the reverse)"
        )


def _safe_divide(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    with np.errstate(all="ignore"):
        return np.where(denominator != 0, numerator / denominator, 0.0)


def _investor_index_score(
    net60: FloatArray, net20: FloatArray, ratio20: FloatArray, scale: float
) -> FloatArray:
    base = np.clip(net60 / scale * 25.0 + 25.0, 0.0, 35.0)
    recent = np.clip(_safe_divide(net20, net60 + 1.0) * 10.0, 0.0, 10.0)
    ratio = np.clip(ratio20 / 10.0 * 2.5 + 2.5, 0.0, 5.0)
    total: FloatArray = base + recent + ratio
    return np.where(np.isnan(net60), np.nan, total)


def supply_demand_index_raw(windows: FlowWindows, policy: FlowPolicy) -> FloatArray:
    """The index before the universe clip: (inst + foreign scores) × volume factor, 0–100."""
    _check_unit(windows, policy)
    inst = _investor_index_score(
        windows.inst_net[60], windows.inst_net[20], windows.inst_ratio[20], policy.inst_scale
    )
    foreign = _investor_index_score(
        windows.foreign_net[60],
        windows.foreign_net[20],
        windows.foreign_ratio[20],
        policy.foreign_scale,
    )
    factor = 0.8 + 0.2 * np.minimum(windows.volume[20] / policy.volume_scale, 1.0)
    index: FloatArray = np.clip((inst + foreign) * factor, 0.0, 100.0)
    return index


def percentile_clip(values: FloatArray, low_pct: float, high_pct: float) -> FloatArray:
    """Clip to the [low, high] percentiles of the finite values (pandas ``quantile`` linear)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return values.copy()
    low, high = np.percentile(finite, [low_pct, high_pct])
    return np.clip(values, low, high)


def stage_of(values: FloatArray, policy: FlowPolicy) -> StrArray:
    """The 7 stages (강한매집 … 강한분산) by the cut-offs; '' where the value is NaN."""
    cuts = (
        policy.stage_strong_accumulation,
        policy.stage_accumulation,
        policy.stage_weak_accumulation,
        policy.stage_neutral,
        policy.stage_weak_distribution,
        policy.stage_distribution,
    )
    labels = np.select([values >= cut for cut in cuts], STAGES[:-1], default=STAGES[-1])
    return np.where(np.isnan(values), "", labels).astype(object)


def trend_label(
    net60: FloatArray,
    net20: FloatArray,
    net5: FloatArray,
    ratio20: FloatArray,
    thresholds: InvestorTrendThresholds,
) -> StrArray:
    """TrendConfig labels; the selling side mirrors the buying side."""
    t = thresholds
    conditions = [
        (net60 > t.strong_buy) & (net5 > 0) & (ratio20 > t.high_ratio),
        (net60 > t.buy) & ((ratio20 > t.buy_ratio) | (net20 > 0.4 * net60)),
        (net60 < t.strong_sell) & (net5 < 0) & (ratio20 < -t.high_ratio),
        (net60 < t.sell) & ((ratio20 < -t.buy_ratio) | (net20 < 0.4 * net60)),
    ]
    labels = ["strong_buying", "buying", "strong_selling", "selling"]
    out = np.select(conditions, labels, default="neutral")
    return np.where(np.isnan(net60), "", out).astype(object)


def investor_momentum(net5: FloatArray, net20: FloatArray) -> FloatArray:
    """(5d × 3 − previous 15d) ÷ |previous 15d| × 100; 0 when the previous 15 days net to 0."""
    previous15 = net20 - net5
    return _safe_divide(net5 * 3.0 - previous15, np.abs(previous15)) * 100.0


def smart_money_score(windows: FlowWindows, policy: FlowPolicy) -> FloatArray:
    """SmartMoneyScreener score: base 50 plus the flow components, clamped to 0–100."""
    _check_unit(windows, policy)
    f60, i60 = windows.foreign_net[60], windows.inst_net[60]
    f_scale, i_scale = policy.screener_foreign60_scale, policy.screener_inst60_scale
    score = np.full(f60.shape, 50.0)
    score += np.where(
        f60 > 0,
        np.minimum(f60 / f_scale, 1.0) * 25.0,
        -np.minimum(np.abs(f60) / f_scale, 1.0) * 15.0,
    )
    score += np.minimum(windows.foreign_streak / 10.0, 1.0) * 15.0
    score += np.where(
        i60 > 0,
        np.minimum(i60 / i_scale, 1.0) * 20.0,
        -np.minimum(np.abs(i60) / i_scale, 1.0) * 10.0,
    )
    score += np.minimum(windows.inst_streak / 5.0, 1.0) * 10.0
    ratio_sum = windows.foreign_ratio[20] + windows.inst_ratio[20]
    score += np.clip(ratio_sum / 30.0 * 20.0, -10.0, 20.0)
    both5 = windows.foreign_net[5] + windows.inst_net[5]
    both20 = windows.foreign_net[20] + windows.inst_net[20]
    previous15 = both20 - both5
    momentum = _safe_divide(both5 * 3.0 - previous15, np.abs(previous15))
    score += np.clip(momentum * 5.0, -5.0, 10.0)
    clamped: FloatArray = np.clip(score, 0.0, 100.0)
    return np.where(np.isnan(f60) | np.isnan(i60), np.nan, clamped)


def double_buy(windows: FlowWindows, policy: FlowPolicy) -> BoolArray:
    """쌍끌이: foreign 5d > 0, inst 5d > 0, foreign streak ≥ 3 and inst streak ≥ 2."""
    hit: BoolArray = (
        (windows.foreign_net[5] > 0)
        & (windows.inst_net[5] > 0)
        & (windows.foreign_streak >= policy.double_buy_foreign_days)
        & (windows.inst_streak >= policy.double_buy_inst_days)
    )
    return hit


def signal_type(windows: FlowWindows, policy: FlowPolicy) -> StrArray:
    """DOUBLE_BUY, else FOREIGNER_BUY (foreign streak ≥ 5), else INST_SCOOP (inst ≥ 3), else
    FOREIGNER_BUY."""
    out = np.select(
        [
            double_buy(windows, policy),
            windows.foreign_streak >= policy.foreigner_buy_days,
            windows.inst_streak >= policy.inst_scoop_days,
        ],
        ["DOUBLE_BUY", "FOREIGNER_BUY", "INST_SCOOP"],
        default="FOREIGNER_BUY",
    )
    return out.astype(object)


def grade_of(score: FloatArray, policy: FlowPolicy) -> StrArray:
    """A ≥ 80, B ≥ 70, C ≥ 60, else D."""
    out = np.select(
        [score >= policy.grade_a, score >= policy.grade_b, score >= policy.grade_c],
        ["A", "B", "C"],
        default="D",
    )
    return out.astype(object)


def screener_intensity(score: FloatArray) -> StrArray:
    """The screener's intensity from its score: ≥80, ≥65, ≥50, ≥35, else 매도세."""
    out = np.select([score >= cut for cut in (80, 65, 50, 35)], INTENSITIES[:-1], INTENSITIES[-1])
    return out.astype(object)


@dataclass(frozen=True)
class FlowAnalysis:
    """Everything §4.1 derives per ticker from the daily flow rows (arrays aligned on tickers)."""

    unit: Unit
    windows: FlowWindows
    supply_demand_index: FloatArray
    supply_demand_index_raw: FloatArray
    supply_demand_stage: StrArray
    inst_trend: StrArray
    foreign_trend: StrArray
    strong_accumulation: BoolArray
    accumulation_signal: BoolArray
    accumulation_intensity: StrArray
    momentum_score: FloatArray
    smart_money_score: FloatArray
    smart_money_stage: StrArray
    smart_money_intensity: StrArray
    double_buy: BoolArray
    signal_type: StrArray
    grade: StrArray


def analyze_flows(windows: FlowWindows, policy: FlowPolicy) -> FlowAnalysis:
    """The institutional analyzer and the SmartMoneyScreener over the whole universe at once."""
    _check_unit(windows, policy)
    w = windows
    raw = supply_demand_index_raw(w, policy)
    index = (
        percentile_clip(raw, policy.clip_low_pct, policy.clip_high_pct)
        if policy.percentile_clip
        else raw
    )
    high_inst, high_foreign = policy.inst_trend.high_ratio, policy.foreign_trend.high_ratio
    strong = (
        (w.inst_net[20] > policy.strong_acc_inst20)
        & (w.foreign_net[20] > policy.strong_acc_foreign20)
        & (w.inst_net[5] > 0)
        & (w.foreign_net[5] > 0)
        & ((w.inst_ratio[20] > high_inst) | (w.foreign_ratio[20] > high_foreign))
        & (w.volume[20] > policy.strong_acc_volume20)
    )
    signal = (
        (w.inst_net[20] > 0)
        & (w.foreign_net[20] > 0)
        & (
            (w.inst_ratio[20] > policy.inst_trend.buy_ratio)
            | (w.foreign_ratio[20] > policy.foreign_trend.buy_ratio)
        )
    )
    ratio_sum = w.inst_ratio[20] + w.foreign_ratio[20]
    intensity = np.select(
        [
            ratio_sum > policy.intensity_very_strong,
            ratio_sum > policy.intensity_strong,
            ratio_sum > policy.intensity_moderate,
            ratio_sum > 0,
        ],
        INTENSITIES[:-1],
        INTENSITIES[-1],
    ).astype(object)
    momentum = (
        investor_momentum(w.inst_net[5], w.inst_net[20])
        + investor_momentum(w.foreign_net[5], w.foreign_net[20])
    ) / 2.0
    score = smart_money_score(w, policy)
    return FlowAnalysis(
        unit=w.unit,
        windows=w,
        supply_demand_index=index,
        supply_demand_index_raw=raw,
        # The monolith labelled the stage before the CSV cleaning clipped the index.
        supply_demand_stage=stage_of(raw, policy),
        inst_trend=trend_label(
            w.inst_net[60], w.inst_net[20], w.inst_net[5], w.inst_ratio[20], policy.inst_trend
        ),
        foreign_trend=trend_label(
            w.foreign_net[60],
            w.foreign_net[20],
            w.foreign_net[5],
            w.foreign_ratio[20],
            policy.foreign_trend,
        ),
        strong_accumulation=strong,
        accumulation_signal=signal,
        accumulation_intensity=intensity,
        momentum_score=np.where(np.isnan(raw), np.nan, momentum),
        smart_money_score=score,
        smart_money_stage=stage_of(score, policy),
        smart_money_intensity=screener_intensity(score),
        double_buy=double_buy(w, policy),
        signal_type=signal_type(w, policy),
        grade=grade_of(score, policy),
    )


def analyze_market_flows(
    window: MarketWindow, policy: FlowPolicy, unit: Unit = "shares"
) -> FlowAnalysis:
    """``analyze_flows`` straight from a MarketWindow's daily rows."""
    return analyze_flows(market_flow_windows(window, unit), policy)


def trend_rows(analysis: FlowAnalysis, tickers: npt.ArrayLike) -> list[dict[str, Any]]:
    """One dict per ticker with the Gen1 ``all_institutional_trend_data.csv`` column names
    (tickers without any flow row are left out)."""
    w = analysis.windows
    names = {"inst": "institutional", "foreign": "foreign"}
    out: list[dict[str, Any]] = []
    for i, ticker in enumerate(np.asarray(tickers)):
        if w.rows[i] == 0:
            continue
        row: dict[str, Any] = {
            "ticker": str(ticker),
            "unit": analysis.unit,
            "total_days": int(w.rows[i]),
        }
        for key, nets in (("inst", w.inst_net), ("foreign", w.foreign_net)):
            for n in (60, 20, 10, 5):
                row[f"{names[key]}_net_buy_{n}d"] = float(nets[n][i])
        for n in (60, 20, 10, 5):
            row[f"total_volume_{n}d"] = float(w.volume[n][i])
        for key, ratios in (("inst", w.inst_ratio), ("foreign", w.foreign_ratio)):
            for n in (60, 20, 10, 5):
                row[f"{names[key]}_ratio_{n}d"] = round(float(ratios[n][i]), 2)
        row.update(
            institutional_trend=analysis.inst_trend[i],
            foreign_trend=analysis.foreign_trend[i],
            supply_demand_index=round(float(analysis.supply_demand_index[i]), 2),
            supply_demand_stage=analysis.supply_demand_stage[i],
            strong_accumulation=int(analysis.strong_accumulation[i]),
            accumulation_signal=int(analysis.accumulation_signal[i]),
            accumulation_intensity=analysis.accumulation_intensity[i],
            momentum_score=round(float(analysis.momentum_score[i]), 2),
            institutional_consecutive_days=int(w.inst_streak[i]),
            foreign_consecutive_days=int(w.foreign_streak[i]),
            smart_money_score=round(float(analysis.smart_money_score[i]), 1),
            is_double_buy=bool(analysis.double_buy[i]),
            signal_type=analysis.signal_type[i],
            grade=analysis.grade[i],
        )
        out.append(row)
    return out


def screen_smart_money(
    analysis: FlowAnalysis, tickers: npt.ArrayLike, policy: FlowPolicy
) -> list[dict[str, Any]]:
    """run_screening + generate_signals: scores ≥ 50, best first, top 20, typed and graded."""
    score = analysis.smart_money_score
    keep = np.flatnonzero(np.nan_to_num(score, nan=-1.0) >= policy.screener_min_score)
    ranked = keep[np.argsort(-score[keep], kind="stable")][: policy.screener_top_n]
    w = analysis.windows
    names = np.asarray(tickers)
    return [
        {
            "ticker": str(names[i]),
            "unit": analysis.unit,
            "score": round(float(score[i]), 1),
            "stage": analysis.smart_money_stage[i],
            "intensity": analysis.smart_money_intensity[i],
            "signal_type": analysis.signal_type[i],
            "grade": analysis.grade[i],
            "is_double_buy": bool(analysis.double_buy[i]),
            "foreign_net_5d": float(w.foreign_net[5][i]),
            "inst_net_5d": float(w.inst_net[5][i]),
            "foreign_consecutive_days": int(w.foreign_streak[i]),
            "inst_consecutive_days": int(w.inst_streak[i]),
        }
        for i in ranked
    ]
