"""``trend-template``: Minervini's trend template with an RS percentile rank over the universe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from krstock.domain.indicators import fill_halted_bars

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CRITERIA = (
    "price_above_ma150_ma200",
    "ma150_above_ma200",
    "ma200_rising",
    "ma50_above_ma150_ma200",
    "price_above_ma50",
    "above_52w_low",
    "near_52w_high",
    "rs_rank",
)


class TrendTemplatePolicy(BaseModel):
    """Thresholds of the trend template (trading days, fractions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ma_fast_days: int = Field(50, ge=2, description="fast moving average (days)")
    ma_mid_days: int = Field(150, ge=2, description="middle moving average (days)")
    ma_slow_days: int = Field(200, ge=2, description="slow moving average (days)")
    ma_slow_rising_days: int = Field(
        21, ge=1, description="slow MA above its value this many days ago"
    )
    high_low_days: int = Field(250, ge=20, description="52-week high/low window (trading days)")
    above_low_min: float = Field(0.30, ge=0, description="close at least (1 + this) × 52-week low")
    below_high_max: float = Field(
        0.25, ge=0, le=1, description="close at least (1 - this) × 52-week high"
    )
    rs_min_rank: float = Field(70, ge=0, le=100, description="RS percentile rank at least this")
    rs_days_3m: int = Field(63, ge=1, description="RS 3-month return lookback")
    rs_days_6m: int = Field(126, ge=1, description="RS 6-month return lookback")
    rs_days_9m: int = Field(189, ge=1, description="RS 9-month return lookback")
    rs_days_12m: int = Field(252, ge=1, description="RS 12-month return lookback")
    rs_weight_3m: float = Field(0.4, ge=0, description="RS weight of the 3-month return")
    rs_weight_6m: float = Field(0.2, ge=0, description="RS weight of the 6-month return")
    rs_weight_9m: float = Field(0.2, ge=0, description="RS weight of the 9-month return")
    rs_weight_12m: float = Field(0.2, ge=0, description="RS weight of the 12-month return")


def _last_mean(values: FloatArray, days: int, offset: int = 0) -> FloatArray:
    """Mean of the ``days`` values ending ``offset`` days before the last; NaN if incomplete."""
    stop = values.shape[1] - offset
    if days > stop:
        return np.full(values.shape[0], np.nan)
    # A NaN inside the window propagates: the average is not defined on a gap.
    return values[:, stop - days : stop].mean(axis=1)


def _last_extreme(values: FloatArray, days: int, highest: bool) -> FloatArray:
    if days > values.shape[1]:
        return np.full(values.shape[0], np.nan)
    window = values[:, -days:]
    out = window.max(axis=1) if highest else window.min(axis=1)
    return np.where(np.isfinite(window).all(axis=1), out, np.nan)


def _last_return(close: FloatArray, days: int) -> FloatArray:
    if days >= close.shape[1]:
        return np.full(close.shape[0], np.nan)
    before = close[:, -1 - days]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before > 0, close[:, -1] / before - 1.0, np.nan)


def relative_strength(close: npt.ArrayLike, policy: TrendTemplatePolicy) -> FloatArray:
    """RS = 0.4·r3m + 0.2·r6m + 0.2·r9m + 0.2·r12m on the last day (NaN without 12 months)."""
    c = np.atleast_2d(np.asarray(close, dtype=np.float64))
    rs: FloatArray = (
        policy.rs_weight_3m * _last_return(c, policy.rs_days_3m)
        + policy.rs_weight_6m * _last_return(c, policy.rs_days_6m)
        + policy.rs_weight_9m * _last_return(c, policy.rs_days_9m)
        + policy.rs_weight_12m * _last_return(c, policy.rs_days_12m)
    )
    return rs


def percentile_rank(values: FloatArray) -> FloatArray:
    """Share of the finite values that are ≤ each value, in percent (the best gets 100)."""
    finite = np.sort(values[np.isfinite(values)])
    if finite.size == 0:
        return np.full(values.shape, np.nan)
    at_or_below = np.searchsorted(finite, values, side="right")
    return np.where(np.isfinite(values), 100.0 * at_or_below / finite.size, np.nan)


@dataclass(frozen=True)
class TrendTemplateResult:
    """The template on the window's last day, per ticker."""

    passes: BoolArray
    criteria: dict[str, BoolArray]
    criteria_met: npt.NDArray[np.int64]
    rs: FloatArray
    rs_rank: FloatArray
    close: FloatArray
    ma_fast: FloatArray
    ma_mid: FloatArray
    ma_slow: FloatArray
    high_52w: FloatArray
    low_52w: FloatArray


def evaluate_trend_template(
    close: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    policy: TrendTemplatePolicy,
) -> TrendTemplateResult:
    """Every criterion for every ticker on the last day; RS ranked over the whole universe.

    52-week high/low use the daily high/low (a halted day counts at its carried close); missing
    data in a window leaves it undefined, and an undefined criterion fails."""
    c = np.atleast_2d(np.asarray(close, dtype=np.float64))
    h, lo = fill_halted_bars(high, low, c)
    price = c[:, -1] if c.shape[1] else np.full(c.shape[0], np.nan)
    fast = _last_mean(c, policy.ma_fast_days)
    mid = _last_mean(c, policy.ma_mid_days)
    slow = _last_mean(c, policy.ma_slow_days)
    slow_before = _last_mean(c, policy.ma_slow_days, offset=policy.ma_slow_rising_days)
    top = _last_extreme(h, policy.high_low_days, highest=True)
    bottom = _last_extreme(lo, policy.high_low_days, highest=False)
    rs = relative_strength(c, policy)
    rank = percentile_rank(rs)
    criteria = {
        "price_above_ma150_ma200": (price > mid) & (price > slow),
        "ma150_above_ma200": mid > slow,
        "ma200_rising": slow > slow_before,
        "ma50_above_ma150_ma200": (fast > mid) & (fast > slow),
        "price_above_ma50": price > fast,
        "above_52w_low": price >= (1.0 + policy.above_low_min) * bottom,
        "near_52w_high": price >= (1.0 - policy.below_high_max) * top,
        "rs_rank": rank >= policy.rs_min_rank,
    }
    stacked = np.stack([criteria[name] for name in CRITERIA])
    return TrendTemplateResult(
        passes=np.asarray(stacked.all(axis=0), dtype=np.bool_),
        criteria=criteria,
        criteria_met=stacked.sum(axis=0).astype(np.int64),
        rs=rs,
        rs_rank=rank,
        close=price,
        ma_fast=fast,
        ma_mid=mid,
        ma_slow=slow,
        high_52w=top,
        low_52w=bottom,
    )


def trend_template_rows(
    result: TrendTemplateResult, tickers: npt.ArrayLike, only_passing: bool = True
) -> list[dict[str, Any]]:
    """One dict per ticker (passing ones by default), best RS first."""
    names = np.asarray(tickers)
    chosen = np.flatnonzero(result.passes) if only_passing else np.arange(len(names))
    order = chosen[np.argsort(-np.nan_to_num(result.rs_rank[chosen], nan=-1.0), kind="stable")]
    return [
        {
            "ticker": str(names[i]),
            "passes": bool(result.passes[i]),
            "rs_rank": round(float(result.rs_rank[i]), 1),
            "rs": round(float(result.rs[i]), 4),
            "criteria_met": [name for name in CRITERIA if result.criteria[name][i]],
            "close": float(result.close[i]),
            "ma50": float(result.ma_fast[i]),
            "ma150": float(result.ma_mid[i]),
            "ma200": float(result.ma_slow[i]),
            "high_52w": float(result.high_52w[i]),
            "low_52w": float(result.low_52w[i]),
        }
        for i in order
    ]
