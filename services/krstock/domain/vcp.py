"""``vcp``: a Minervini volatility-contraction-pattern detector, vectorized over the universe.

How a base is read, for every ticker at once (the only loop runs over the ~65 days of the base):

1. The base starts at its left-side high: the highest high of the last ``base_days`` days
   (today excluded, so a breakout does not move it).
2. A zigzag walks forward from there. A swing high is confirmed when the low falls a reversal
   r below the running high; a swing low when the high rises r above the running low. r is each
   ticker's own scale by default (``swing_atr_mult`` × ATR ÷ close, clipped) or the fixed
   ``swing_pct`` (``swing_mode="fixed"``, the reading before issue 18). Each (swing high →
   following low) is a contraction with depth (high − low) ÷ high; a decline still running today
   is the last contraction.
3. A VCP has 2–6 contractions with strictly decreasing depths (first ≤ 35 %, last ≤ 10 %),
   each at most 0.8 × the one before, higher lows, and volume drying up below 0.6 × the 50-day
   average: by default the quietest ``dryup_quiet_days`` stretch from the last contraction's high
   to yesterday, or (``dryup_mode="average"``) the whole last contraction.
4. The pivot is the high of the last contraction. "breakout": today's close clears the pivot on
   volume ≥ 1.4 × the 50-day average (the 50 days before today). "setup": the close is at most
   5 % under the pivot. A close above the pivot on light volume is neither (unconfirmed).
5. The trend template must pass (configurable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from krstock.domain.market import MarketWindow
from krstock.domain.trend_template import (
    TrendTemplatePolicy,
    TrendTemplateResult,
    evaluate_trend_template,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class VcpPolicy(BaseModel):
    """Thresholds of the VCP detector (trading days, fractions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trend_template: TrendTemplatePolicy = Field(default_factory=TrendTemplatePolicy)
    require_trend_template: bool = Field(
        True, description="only tickers passing the trend template qualify"
    )
    base_days: int = Field(
        65, ge=20, le=250, description="days searched for the base (left-side high onward)"
    )
    left_high_tolerance: float = Field(
        0.03, ge=0, lt=0.5, description="the base starts at the first high within this of the top"
    )
    min_base_days: int = Field(
        18, ge=5, description="days from the first (deepest) contraction's high to today, at least"
    )
    swing_mode: Literal["fixed", "atr"] = Field(
        "atr",
        description="zigzag reversal: fixed swing_pct, or swing_atr_mult × ATR/price per ticker",
    )
    swing_pct: float = Field(
        0.03,
        gt=0,
        lt=0.5,
        description="zigzag reversal that confirms a swing high or low (fraction, fixed mode)",
    )
    swing_atr_mult: float = Field(
        1.5, gt=0, le=10, description="atr mode: reversal = this × ATR ÷ close"
    )
    atr_days: int = Field(14, ge=2, le=60, description="atr mode: ATR window (simple mean)")
    swing_min_pct: float = Field(
        0.03, gt=0, lt=0.5, description="atr mode: reversal at least this fraction"
    )
    swing_max_pct: float = Field(
        0.15, gt=0, lt=0.5, description="atr mode: reversal at most this fraction"
    )
    min_contractions: int = Field(2, ge=2, le=6, description="contractions at least")
    max_contractions: int = Field(6, ge=2, le=10, description="contractions at most")
    max_depth_ratio: float = Field(
        0.8,
        gt=0,
        le=1,
        description="each contraction's depth below this × the previous one (1 = strictly less)",
    )
    max_first_depth: float = Field(0.35, gt=0, lt=1, description="first contraction depth at most")
    min_first_depth: float = Field(0.06, ge=0, lt=1, description="first contraction depth at least")
    max_last_depth: float = Field(0.10, gt=0, lt=1, description="last contraction depth at most")
    require_higher_lows: bool = Field(
        True, description="each contraction's low above the previous one's"
    )
    volume_avg_days: int = Field(50, ge=5, description="average volume window (days before today)")
    dryup_mode: Literal["average", "quiet"] = Field(
        "quiet",
        description="average: the whole last contraction; quiet: its lowest-volume stretch",
    )
    dryup_quiet_days: int = Field(
        5, ge=1, le=30, description="quiet mode: days in the lowest-volume stretch"
    )
    dry_up_max_ratio: float = Field(
        0.6, gt=0, description="dry-up volume below this × the average volume"
    )
    breakout_volume_mult: float = Field(
        1.4, gt=0, description="breakout volume at least this × the average"
    )
    max_pivot_distance: float = Field(
        0.05, gt=0, lt=1, description="a setup's close at least (1 - this) × the pivot"
    )
    tight_depth: float = Field(
        0.04, ge=0, lt=1, description="a last contraction this shallow gets full tightness marks"
    )
    weight_trend: float = Field(20, ge=0, description="score weight: trend template criteria met")
    weight_contractions: float = Field(
        20, ge=0, description="score weight: contraction count and sequence"
    )
    weight_tightness: float = Field(20, ge=0, description="score weight: last contraction depth")
    weight_volume: float = Field(15, ge=0, description="score weight: volume dry-up")
    weight_rs: float = Field(15, ge=0, description="score weight: RS rank")
    weight_breakout: float = Field(10, ge=0, description="score weight: breakout volume")


STATUSES = ("setup", "breakout")


@dataclass(frozen=True)
class Contractions:
    """Zigzag output per ticker: contraction highs/lows (padded with NaN) and their day indexes
    inside the base window."""

    count: IntArray
    peak: FloatArray
    trough: FloatArray
    peak_day: IntArray
    trough_day: IntArray
    base_start: IntArray
    ongoing: BoolArray

    @property
    def depth(self) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out: FloatArray = (self.peak - self.trough) / self.peak
        return out


def find_contractions(
    high: FloatArray,
    low: FloatArray,
    swing_pct: float | FloatArray,
    max_slots: int,
    left_high_tolerance: float = 0.0,
) -> Contractions:
    """Zigzag from each row's left-side high.

    The left-side high is the earliest day (the last day excluded) whose high comes within
    ``left_high_tolerance`` of the window's highest high, so a right side that pokes slightly
    above the left peak does not restart the base. ``high``/``low`` are the base window
    (tickers × days); a row with a NaN yields no contraction."""
    tickers, days = high.shape
    rows = np.arange(tickers)
    usable: BoolArray = np.asarray(np.isfinite(high).all(axis=1) & np.isfinite(low).all(axis=1))
    h = np.where(usable[:, None], high, 0.0)
    lo = np.where(usable[:, None], low, 0.0)
    if days > 1:
        before_today = h[:, :-1]
        top = before_today.max(axis=1, keepdims=True)
        start = np.argmax(before_today >= top * (1.0 - left_high_tolerance), axis=1)
    else:
        start = np.zeros(tickers, dtype=np.int64)
    peak = np.full((tickers, max_slots), np.nan)
    trough = np.full((tickers, max_slots), np.nan)
    peak_day = np.full((tickers, max_slots), -1, dtype=np.int64)
    trough_day = np.full((tickers, max_slots), -1, dtype=np.int64)
    count = np.zeros(tickers, dtype=np.int64)
    # Start on a rising leg at the left-side high: the first drop of swing_pct confirms it.
    falling = np.zeros(tickers, dtype=bool)
    extreme = h[rows, start].copy()
    extreme_day = start.copy()
    swing = np.broadcast_to(np.asarray(swing_pct, dtype=np.float64), (tickers,))
    up, down = 1.0 + swing, 1.0 - swing
    for day in range(1, days):
        active = usable & (day > start)
        if not active.any():
            continue
        hi_today, lo_today = h[:, day], lo[:, day]
        slot = np.minimum(count, max_slots - 1)
        # Falling leg: extend the low, or confirm the swing low on a bounce of swing_pct.
        new_low = active & falling & (lo_today < extreme)
        bounce = active & falling & ~new_low & (hi_today >= extreme * up)
        # Rising leg: extend the high, or confirm the swing high on a drop of swing_pct.
        new_high = active & ~falling & (hi_today > extreme)
        drop = active & ~falling & ~new_high & (lo_today <= extreme * down)
        trough[rows[bounce], slot[bounce]] = extreme[bounce]
        trough_day[rows[bounce], slot[bounce]] = extreme_day[bounce]
        count += bounce
        next_slot = np.minimum(count, max_slots - 1)
        peak[rows[drop], next_slot[drop]] = extreme[drop]
        peak_day[rows[drop], next_slot[drop]] = extreme_day[drop]
        moved = new_low | new_high
        extreme = np.where(moved, np.where(new_low, lo_today, hi_today), extreme)
        extreme = np.where(bounce, hi_today, np.where(drop, lo_today, extreme))
        extreme_day = np.where(moved | bounce | drop, day, extreme_day)
        falling = np.where(bounce, False, np.where(drop, True, falling))
    # A decline still running today is the last contraction.
    ongoing = usable & falling
    slot = np.minimum(count, max_slots - 1)
    trough[rows[ongoing], slot[ongoing]] = extreme[ongoing]
    trough_day[rows[ongoing], slot[ongoing]] = extreme_day[ongoing]
    count = np.where(ongoing, count + 1, count)
    count = np.where(usable, count, 0)
    return Contractions(
        count=count,
        peak=peak,
        trough=trough,
        peak_day=peak_day,
        trough_day=trough_day,
        base_start=np.where(usable, start, -1),
        ongoing=ongoing,
    )


def _from_deepest(found: Contractions) -> Contractions:
    """Start the pattern at the deepest contraction: shallower pauses before it belong to the
    advance into the base, not to the contraction sequence."""
    slots = np.arange(found.peak.shape[1])[None, :]
    depth = np.where(slots < found.count[:, None], found.depth, -np.inf)
    first = np.where(found.count > 0, np.argmax(depth, axis=1), 0)
    index = np.minimum(slots + first[:, None], found.peak.shape[1] - 1)
    beyond = slots >= (found.count - first)[:, None]

    def shifted(values: Any, blank: float | int) -> Any:
        moved = np.take_along_axis(values, index, axis=1)
        return np.where(beyond, blank, moved)

    return Contractions(
        count=found.count - first,
        peak=shifted(found.peak, np.nan),
        trough=shifted(found.trough, np.nan),
        peak_day=shifted(found.peak_day, -1),
        trough_day=shifted(found.trough_day, -1),
        base_start=np.where(found.count > 0, _take(found.peak_day, first), found.base_start),
        ongoing=found.ongoing,
    )


@dataclass(frozen=True)
class VcpResult:
    """Per-ticker VCP analysis on the window's last day."""

    flagged: BoolArray
    status: npt.NDArray[np.object_]
    score: FloatArray
    components: dict[str, FloatArray]
    contractions: Contractions
    n_contractions: IntArray
    depths_decreasing: BoolArray
    higher_lows: BoolArray
    first_depth: FloatArray
    last_depth: FloatArray
    pivot: FloatArray
    dry_up_ratio: FloatArray
    volume_ratio: FloatArray
    base_days: IntArray
    trend: TrendTemplateResult


def _take(values: FloatArray | IntArray, index: IntArray) -> Any:
    safe = np.clip(index, 0, values.shape[1] - 1)
    return np.take_along_axis(values, safe[:, None], axis=1)[:, 0]


def detect_vcp(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    policy: VcpPolicy,
    trend: TrendTemplateResult | None = None,
    halted: npt.ArrayLike | None = None,
) -> VcpResult:
    """The VCP detector for every ticker on the last day of (tickers × days) arrays."""
    h = np.atleast_2d(np.asarray(high, dtype=np.float64))
    lo = np.atleast_2d(np.asarray(low, dtype=np.float64))
    c = np.atleast_2d(np.asarray(close, dtype=np.float64))
    vol = np.atleast_2d(np.asarray(volume, dtype=np.float64))
    if not h.shape == lo.shape == c.shape == vol.shape:
        raise ValueError("high, low, close and volume must have the same shape")
    tickers, days = c.shape
    if days == 0:
        raise ValueError("the window has no days")
    # A halt (KRX: high/low 0) inside the base makes it unreadable: no pattern across a halt.
    stopped = (h <= 0) | (lo <= 0)
    if halted is not None:
        stopped |= np.atleast_2d(np.asarray(halted, dtype=bool))
    h, lo = np.where(stopped, np.nan, h), np.where(stopped, np.nan, lo)
    if trend is None:
        trend = evaluate_trend_template(c, high, low, policy.trend_template)
    width = min(policy.base_days, days)
    # Room for every swing the base can hold (≥ 2 days each), so nothing is overwritten.
    max_slots = width // 2 + 2
    swing = swing_threshold(h, lo, c, policy)
    found = find_contractions(
        h[:, -width:], lo[:, -width:], swing, max_slots, policy.left_high_tolerance
    )
    found = _from_deepest(found)
    n = found.count
    depth = found.depth
    slots = np.arange(max_slots)[None, :]
    in_pattern = slots < n[:, None]
    pairs = in_pattern[:, 1:] & in_pattern[:, :-1]
    with np.errstate(invalid="ignore"):
        decreasing: BoolArray = np.asarray(
            np.where(pairs, depth[:, 1:] < policy.max_depth_ratio * depth[:, :-1], True).all(axis=1)
        )
        rising_lows: BoolArray = np.asarray(
            np.where(pairs, found.trough[:, 1:] > found.trough[:, :-1], True).all(axis=1)
        )
    last = np.maximum(n - 1, 0)
    first_depth = depth[:, 0]
    last_depth = _take(depth, last)
    pivot = _take(found.peak, last)
    # Volume: the average of the volume_avg_days before today; the last contraction's average.
    avg_days = policy.volume_avg_days
    history = vol[:, -avg_days - 1 : -1] if days > avg_days else vol[:, :0]
    avg_volume = history.mean(axis=1) if history.shape[1] == avg_days else np.full(tickers, np.nan)
    base_vol = vol[:, -width:]
    cumulative = np.concatenate(
        [np.zeros((tickers, 1)), np.cumsum(np.nan_to_num(base_vol), axis=1)], axis=1
    )
    from_day = _take(found.peak_day, last)
    to_day = _take(found.trough_day, last)
    span = np.maximum(to_day - from_day + 1, 1)
    contraction_volume = (
        _take(cumulative, to_day + 1) - _take(cumulative, np.maximum(from_day, 0))
    ) / span
    if policy.dryup_mode == "quiet":
        contraction_volume = _quiet_volume(
            cumulative, from_day, width, policy.dryup_quiet_days, contraction_volume
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        dry_up = np.where(avg_volume > 0, contraction_volume / avg_volume, np.nan)
        volume_ratio = np.where(avg_volume > 0, vol[:, -1] / avg_volume, np.nan)
    price = c[:, -1]
    base_length = np.where(found.base_start >= 0, width - found.base_start, 0)
    shape_ok = (
        (n >= policy.min_contractions)
        & (n <= policy.max_contractions)
        & decreasing
        & (first_depth <= policy.max_first_depth)
        & (first_depth >= policy.min_first_depth)
        & (last_depth <= policy.max_last_depth)
        & (rising_lows | (not policy.require_higher_lows))
        & (base_length >= policy.min_base_days)
        & (dry_up < policy.dry_up_max_ratio)
    )
    breakout = shape_ok & (price > pivot) & (volume_ratio >= policy.breakout_volume_mult)
    setup = shape_ok & (price <= pivot) & (price >= (1.0 - policy.max_pivot_distance) * pivot)
    trend_ok = trend.passes if policy.require_trend_template else np.ones(tickers, dtype=bool)
    flagged = (breakout | setup) & trend_ok
    status = np.where(flagged, np.where(breakout, "breakout", "setup"), "").astype(object)
    components = _score_components(policy, trend, n, decreasing, last_depth, dry_up, breakout)
    score = sum(components.values())
    score = np.where(n > 0, np.clip(score, 0.0, 100.0), np.nan)
    return VcpResult(
        flagged=flagged,
        status=status,
        score=score,
        components=components,
        contractions=found,
        n_contractions=n,
        depths_decreasing=decreasing,
        higher_lows=rising_lows,
        first_depth=first_depth,
        last_depth=last_depth,
        pivot=pivot,
        dry_up_ratio=dry_up,
        volume_ratio=volume_ratio,
        base_days=base_length.astype(np.int64),
        trend=trend,
    )


def swing_threshold(
    high: FloatArray, low: FloatArray, close: FloatArray, policy: VcpPolicy
) -> FloatArray:
    """Per-ticker zigzag reversal. ``atr`` mode reads each stock at its own scale: a KRX name
    with 5 % daily ranges needs a bigger move than a utility to count as a swing, so a real base
    is not cut into a dozen 3 % wiggles. Halted days (NaN) are left out of the ATR mean."""
    tickers = close.shape[0]
    if policy.swing_mode == "fixed":
        return np.full(tickers, policy.swing_pct)
    n = min(policy.atr_days, close.shape[1] - 1)
    if n < 1:
        return np.full(tickers, policy.swing_pct)
    prev = close[:, -n - 1 : -1]
    hi, lo = high[:, -n:], low[:, -n:]
    true_range = np.fmax(hi - lo, np.fmax(np.abs(hi - prev), np.abs(lo - prev)))
    seen = np.isfinite(true_range)
    with np.errstate(divide="ignore", invalid="ignore"):
        atr = np.where(seen, true_range, 0.0).sum(axis=1) / seen.sum(axis=1)
        atr_pct = atr / close[:, -1]
    reversal = np.clip(policy.swing_atr_mult * atr_pct, policy.swing_min_pct, policy.swing_max_pct)
    return np.where(np.isfinite(reversal), reversal, policy.swing_pct)


def _quiet_volume(
    cumulative: FloatArray,
    from_day: IntArray,
    width: int,
    quiet_days: int,
    whole: FloatArray,
) -> FloatArray:
    """The lowest average volume over any ``quiet_days`` stretch from the last contraction's
    high up to yesterday (today is left out: a breakout day is loud by design). Minervini's dry-up
    is the quiet right edge of the base, not the whole leg down with its high-volume peak day; a
    stretch shorter than ``quiet_days`` falls back to the whole contraction's average."""
    starts = np.arange(max(width - quiet_days, 0))  # a stretch ends by yesterday (width - 2)
    if starts.size == 0:
        return whole
    sums = cumulative[:, starts + quiet_days] - cumulative[:, starts]
    usable = starts[None, :] >= np.maximum(from_day, 0)[:, None]
    means = np.where(usable, sums / quiet_days, np.inf)
    quiet = means.min(axis=1)
    return np.where(np.isfinite(quiet), quiet, whole)


def _score_components(
    policy: VcpPolicy,
    trend: TrendTemplateResult,
    n: IntArray,
    decreasing: BoolArray,
    last_depth: FloatArray,
    dry_up: FloatArray,
    breakout: BoolArray,
) -> dict[str, FloatArray]:
    """Named 0–weight parts of the 0–100 score (weights from the policy, scaled to sum to 100)."""
    weights = {
        "trend": policy.weight_trend,
        "contractions": policy.weight_contractions,
        "tightness": policy.weight_tightness,
        "volume_dry_up": policy.weight_volume,
        "rs": policy.weight_rs,
        "breakout": policy.weight_breakout,
    }
    total = sum(weights.values()) or 1.0
    count_ok = (n >= policy.min_contractions) & (n <= policy.max_contractions)
    fractions = {
        "trend": trend.criteria_met / 8.0,
        "contractions": np.where(count_ok & decreasing, 1.0, np.where(count_ok, 0.3, 0.0)),
        # Full marks at a last contraction of tight_depth or less, none at max_last_depth.
        "tightness": np.clip(
            (policy.max_last_depth - np.nan_to_num(last_depth, nan=1.0))
            / max(policy.max_last_depth - policy.tight_depth, 1e-9),
            0.0,
            1.0,
        ),
        "volume_dry_up": np.clip((1.0 - np.nan_to_num(dry_up, nan=1.0)) / 0.6, 0.0, 1.0),
        "rs": np.nan_to_num(trend.rs_rank, nan=0.0) / 100.0,
        "breakout": breakout.astype(np.float64),
    }
    return {name: fractions[name] * weights[name] * 100.0 / total for name in weights}


def detect_vcp_window(
    window: MarketWindow, policy: VcpPolicy, trend: TrendTemplateResult | None = None
) -> VcpResult:
    """``detect_vcp`` on a MarketWindow."""
    return detect_vcp(
        window.high, window.low, window.close, window.volume, policy, trend, window.halted
    )


def vcp_rows(result: VcpResult, tickers: npt.ArrayLike, signal_date: str) -> list[dict[str, Any]]:
    """Flagged tickers as plain dicts, best score first."""
    names = np.asarray(tickers)
    hits = np.flatnonzero(result.flagged)
    hits = hits[np.argsort(-result.score[hits], kind="stable")]
    rows: list[dict[str, Any]] = []
    for i in hits:
        n = int(result.n_contractions[i])
        rows.append(
            {
                "ticker": str(names[i]),
                "signal_date": signal_date,
                "status": result.status[i],
                "score": round(float(result.score[i]), 1),
                "components": {k: round(float(v[i]), 2) for k, v in result.components.items()},
                "contractions": n,
                "depths": [round(float(d), 4) for d in result.contractions.depth[i, :n]],
                "pivot": float(result.pivot[i]),
                "dry_up_ratio": round(float(result.dry_up_ratio[i]), 3),
                "volume_ratio": round(float(result.volume_ratio[i]), 2),
                "rs_rank": round(float(result.trend.rs_rank[i]), 1),
                "base_days": int(result.base_days[i]),
            }
        )
    return rows
