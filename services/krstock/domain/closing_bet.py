"""종가베팅 V2: the 12-point closing-bet engine (monolith §4.2–§4.3, output shape §3.7).

Pure and vectorized: the universe filter and the six score components are computed for every
ticker of a ``MarketWindow`` at once (its last day is the scan day); only the few graded
candidates become dicts. News items and LLM scores come in per ticker (the service layer fetches
them for the candidates that ``select_candidates`` returns).

Units: prices and trading values in KRW, change in percent (2 dp, as KRX reports it), flows in
shares (Gen1 ``*_net_buy_5d``) unless ``supply_unit`` says KRW.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from krstock.domain.market import BoolArray, FloatArray, MarketWindow

GradeName = Literal["S", "A", "B", "C"]
GRADE_ORDER: tuple[GradeName, ...] = ("S", "A", "B", "C")

MONOLITH_EXCLUDED_KEYWORDS: tuple[str, ...] = (
    "스팩",
    "SPAC",
    "ETF",
    "ETN",
    "리츠",
    "우B",
    "우C",
    "1우",
    "2우",
    "3우",
    "인버스",
    "레버리지",
)

_STRICT = ConfigDict(extra="forbid", frozen=True)


class VolumeTier(BaseModel):
    """Trading-value tier: at or above ``min_trading_value`` won scores ``points``."""

    model_config = _STRICT
    min_trading_value: float = Field(ge=0, description="Lower bound in KRW (inclusive).")
    points: int = Field(ge=0, le=3, description="Volume score for this tier (0–3).")


class GradeRule(BaseModel):
    """One grade row of ``determine_grade``: all bounds inclusive."""

    model_config = _STRICT
    min_score: int = Field(ge=0, le=12, description="Minimum total score (of 12).")
    min_trading_value: float = Field(ge=0, description="Minimum trading value in KRW.")
    min_change_pct: float | None = Field(
        default=None, description="Lowest day change in %; null = not checked."
    )
    max_change_pct: float | None = Field(
        default=None, description="Highest day change in %; null = not checked."
    )
    r_multiplier: float = Field(ge=0, le=5, description="Risk multiple of R for this grade.")


class GradeTable(BaseModel):
    """Grades are tried S, then A, then B; anything else is C and dropped."""

    model_config = _STRICT
    s: GradeRule = Field(
        default=GradeRule(
            min_score=10,
            min_trading_value=1_000_000_000_000,
            min_change_pct=10.0,
            max_change_pct=20.0,
            r_multiplier=1.5,
        ),
        description="S: 풀배팅 (full bet).",
    )
    a: GradeRule = Field(
        default=GradeRule(
            min_score=8,
            min_trading_value=500_000_000_000,
            min_change_pct=8.0,
            max_change_pct=15.0,
            r_multiplier=1.0,
        ),
        description="A: 기본배팅 (normal bet).",
    )
    b: GradeRule = Field(
        default=GradeRule(min_score=6, min_trading_value=100_000_000_000, r_multiplier=0.5),
        description="B: 절반배팅 (half bet); the change band is not checked in the original.",
    )


MONOLITH_VOLUME_TIERS: tuple[VolumeTier, ...] = (
    VolumeTier(min_trading_value=1_000_000_000_000, points=3),
    VolumeTier(min_trading_value=500_000_000_000, points=2),
    VolumeTier(min_trading_value=100_000_000_000, points=1),
)


class ClosingBetPolicy(BaseModel):
    """Every number of the closing-bet engine; defaults are the original Gen1 ``SignalConfig``."""

    model_config = _STRICT

    # Universe (get_top_gainers filters).
    markets: tuple[str, ...] = Field(
        default=("KOSPI", "KOSDAQ"), description="Markets scanned, in output order."
    )
    excluded_keywords: tuple[str, ...] = Field(
        default=MONOLITH_EXCLUDED_KEYWORDS, description="Names containing any of these are out."
    )
    exclude_preferred_suffix: str | None = Field(
        default="우", description="Names ending with this (preferred shares) are out; null = keep."
    )
    excluded_flags: tuple[str, ...] = Field(
        default=(),
        description="MarketWindow flags (etf, spac, preferred...) that also exclude; "
        "empty in the original, which filtered by name only.",
    )
    min_price: float = Field(default=1_000, ge=0, description="Lowest close in KRW (inclusive).")
    max_price: float = Field(default=500_000, gt=0, description="Highest close in KRW (inclusive).")
    min_change_pct: float = Field(default=5.0, description="Lowest day change in % (inclusive).")
    max_change_pct: float = Field(
        default=29.9, description="Highest day change in % (inclusive); +30% limit-ups are out."
    )
    min_trading_value: float = Field(
        default=50_000_000_000, ge=0, description="Universe floor in KRW (500억, inclusive)."
    )
    top_n_per_market: int = Field(
        default=30, ge=1, le=500, description="Top gainers kept per market."
    )

    # Score components.
    volume_tiers: tuple[VolumeTier, ...] = Field(
        default=MONOLITH_VOLUME_TIERS,
        description="Trading-value tiers, any order; the highest matching bound wins.",
    )
    news_llm_floor_min_items: int = Field(
        default=2, ge=1, description="LLM score 0 with at least this many news items scores 1."
    )
    chart_min_rows: int = Field(
        default=20, ge=1, description="Rows needed for chart/consolidation."
    )
    chart_rows: int = Field(
        default=60, ge=20, description="Chart window (rows) for the breakout high and MAs."
    )
    week52_rows: int = Field(default=250, ge=20, description="Rows of the 52-week high.")
    new_high_ratio: float = Field(
        default=0.95, gt=0, le=1, description="new_high when close ≥ this × 52-week high."
    )
    ma_windows: tuple[int, int, int] = Field(
        default=(5, 10, 20), description="ma_aligned: close > MA[0] > MA[1] > MA[2]."
    )
    candle_strong_body: float = Field(default=0.6, ge=0, le=1, description="Strong body ratio.")
    candle_strong_max_wick: float = Field(
        default=0.3, ge=0, description="Strong candle: upper wick ÷ body at most this."
    )
    candle_normal_body: float = Field(default=0.5, ge=0, le=1, description="Normal body ratio.")
    candle_normal_max_wick: float = Field(
        default=0.5, ge=0, description="Normal candle: upper wick ÷ body at most this."
    )
    upper_wick_long_ratio: float = Field(
        default=0.5, ge=0, description="upper_wick_long when upper wick ÷ body exceeds this."
    )
    consolidation_rows: int = Field(default=20, ge=2, description="Long range window (rows).")
    consolidation_short_rows: int = Field(default=5, ge=1, description="Short range window.")
    sideways_max_range: float = Field(
        default=0.15, ge=0, description="sideways when the 20-row range ÷ low ≤ this."
    )
    contraction_factor: float = Field(
        default=0.5, ge=0, description="contracted when range5 < this × range20."
    )
    breakout_excludes_today: bool = Field(
        default=False,
        description="Compare the close with highs before today. False (original): the 52-week "
        "and 60-row highs include today's high, so a breakout can never fire.",
    )
    consolidation_excludes_today: bool = Field(
        default=False,
        description="Compare the close with the 20-row high before today. False (original): "
        "today's high is included, so consolidation never scores on consistent OHLC.",
    )
    supply_rows: int = Field(default=5, ge=1, description="Days summed for foreign/inst flows.")
    supply_unit: Literal["shares", "krw"] = Field(
        default="shares", description="Flow unit (Gen1: shares; Gen2: KRW)."
    )
    volume_surge_ratio: float = Field(
        default=2.0,
        gt=0,
        description="Flat key volume_surge: today's volume ≥ this × the prior 20-row average "
        "(no rule in Gen1; Gen2's volume ratio).",
    )

    # Grades, selection and sizing.
    grades: GradeTable = Field(default_factory=GradeTable, description="S/A/B rules.")
    max_positions: int = Field(
        default=2, ge=1, le=1000, description="Signals kept after sorting (p10: 100)."
    )
    capital: float = Field(default=50_000_000, gt=0, description="Account capital in KRW.")
    r_ratio: float = Field(default=0.005, gt=0, le=0.1, description="R = capital × r_ratio (0.5%).")
    stop_loss_pct: float = Field(default=0.03, gt=0, lt=1, description="Stop distance (3%).")
    take_profit_pct: float = Field(default=0.05, gt=0, lt=5, description="Target distance (5%).")
    max_position_ratio: float = Field(
        default=0.5, gt=0, le=1, description="Position cap as a share of capital (50%)."
    )

    # Declared trade-management rules (nothing executed them in the monolith; see tracking).
    gap_up_take_profit_pct: float = Field(
        default=0.03, ge=0, description="Next-open gap up that takes profit (declared only)."
    )
    gap_down_stop_pct: float = Field(
        default=0.02, ge=0, description="Next-open gap down that stops out (declared only)."
    )
    time_stop_kst: str = Field(
        default="10:00",
        pattern=r"^[0-2][0-9]:[0-5][0-9]$",
        description="Time stop the next morning, KST (declared only).",
    )
    daily_loss_limit_r: float = Field(default=2.0, ge=0, description="Daily loss limit in R.")
    weekly_loss_limit_r: float = Field(default=4.0, ge=0, description="Weekly loss limit in R.")

    @model_validator(mode="after")
    def _check(self) -> ClosingBetPolicy:
        if self.min_price > self.max_price:
            raise ValueError("min_price must not exceed max_price")
        if self.min_change_pct > self.max_change_pct:
            raise ValueError("min_change_pct must not exceed max_change_pct")
        if not self.volume_tiers:
            raise ValueError("volume_tiers must not be empty")
        return self

    @property
    def r_value(self) -> float:
        return self.capital * self.r_ratio


def p10_closing_bet_policy() -> ClosingBetPolicy:
    """The lowered thresholds of the p10 copy (§4.2), as seen in its 2026-02-05 output."""
    return ClosingBetPolicy(
        min_trading_value=500_000_000,
        min_change_pct=3.0,
        volume_tiers=(
            VolumeTier(min_trading_value=50_000_000_000, points=3),
            VolumeTier(min_trading_value=10_000_000_000, points=2),
            VolumeTier(min_trading_value=2_000_000_000, points=1),
            VolumeTier(min_trading_value=500_000_000, points=1),
        ),
        grades=GradeTable(
            s=GradeRule(
                min_score=9,
                min_trading_value=50_000_000_000,
                min_change_pct=8.0,
                max_change_pct=20.0,
                r_multiplier=1.5,
            ),
            a=GradeRule(
                min_score=7,
                min_trading_value=10_000_000_000,
                min_change_pct=5.0,
                max_change_pct=15.0,
                r_multiplier=1.0,
            ),
            b=GradeRule(min_score=5, min_trading_value=2_000_000_000, r_multiplier=0.5),
        ),
        max_positions=100,
    )


# ------------------------------------------------------------------ scalar-or-array scorers

ArrayLike = npt.ArrayLike
IntArray = npt.NDArray[np.int64]


def volume_scores(trading_value: ArrayLike, policy: ClosingBetPolicy) -> IntArray:
    """0–3 from the trading value in KRW (highest matching tier; NaN scores 0)."""
    tv = np.asarray(trading_value, dtype=np.float64)
    out = np.zeros(tv.shape, dtype=np.int64)
    # Lowest bound first so that higher tiers overwrite: "the highest matching bound wins".
    for tier in sorted(policy.volume_tiers, key=lambda t: t.min_trading_value):
        out = np.where(tv >= tier.min_trading_value, tier.points, out)
    return out


def news_scores(news_count: ArrayLike, llm_score: ArrayLike, policy: ClosingBetPolicy) -> IntArray:
    """0–3: the LLM score when there is news (NaN = no LLM result → 1 if any news).

    LLM 0 with ≥ ``news_llm_floor_min_items`` items becomes 1; no news is always 0 (the LLM
    is only called when there is news).
    """
    count = np.asarray(news_count, dtype=np.float64)
    llm = np.asarray(llm_score, dtype=np.float64)
    has_news = count > 0
    llm_int = np.clip(np.nan_to_num(llm, nan=0.0), 0, 3).astype(np.int64)
    with_llm = np.where((llm_int == 0) & (count >= policy.news_llm_floor_min_items), 1, llm_int)
    scored = np.where(np.isnan(llm), 1, with_llm)
    return np.where(has_news, scored, 0).astype(np.int64)


def supply_scores(foreign_5d: ArrayLike, inst_5d: ArrayLike) -> IntArray:
    """2 when both 5-day nets are > 0, 1 when one is, else 0 (missing = not positive)."""
    f = np.asarray(foreign_5d, dtype=np.float64) > 0
    i = np.asarray(inst_5d, dtype=np.float64) > 0
    return (f.astype(np.int64) + i.astype(np.int64)).astype(np.int64)


@dataclass(frozen=True)
class CandleResult:
    score: IntArray
    good: BoolArray
    upper_wick_long: BoolArray
    body_ratio: FloatArray


def candle_scores(
    open_: ArrayLike, high: ArrayLike, low: ArrayLike, close: ArrayLike, policy: ClosingBetPolicy
) -> CandleResult:
    """0–1 from today's OHLC: a bullish candle with a big body and a short upper wick."""
    o = np.asarray(open_, dtype=np.float64)
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    body = c - o
    span = h - lo
    valid = (o != 0) & (span > 0) & (body > 0)  # NaN compares False: no data, no score
    with np.errstate(divide="ignore", invalid="ignore"):
        body_ratio = np.where(valid, body / span, 0.0)
        wick_ratio = np.where(valid, (h - c) / body, np.inf)
    strong = (body_ratio >= policy.candle_strong_body) & (
        wick_ratio <= policy.candle_strong_max_wick
    )
    normal = (body_ratio >= policy.candle_normal_body) & (
        wick_ratio <= policy.candle_normal_max_wick
    )
    good = valid & (strong | normal)
    wick_long = valid & (wick_ratio > policy.upper_wick_long_ratio)
    return CandleResult(good.astype(np.int64), good, wick_long, body_ratio)


# --------------------------------------------------------------------------- window features


def _nanmax(a: FloatArray) -> FloatArray:
    """Row max ignoring NaN; NaN where a row has no value (no RuntimeWarning)."""
    filled = np.where(np.isnan(a), -np.inf, a)
    out = filled.max(axis=1) if a.shape[1] else np.full(a.shape[0], -np.inf)
    return np.where(np.isneginf(out), np.nan, out)


def _nanmin(a: FloatArray) -> FloatArray:
    return -_nanmax(-a)


@dataclass(frozen=True)
class ChartResult:
    score: IntArray
    new_high: BoolArray
    breakout: BoolArray
    ma_aligned: BoolArray


def chart_scores(window: MarketWindow, policy: ClosingBetPolicy) -> ChartResult:
    """0–2 on the last day: +1 for new_high or breakout, +1 for close > MA5 > MA10 > MA20."""
    close = window.close
    high = np.where(window.halted, np.nan, window.high)  # a halt's 0 high is not a price
    c = close[:, -1]
    chart_close = close[:, -policy.chart_rows :]
    enough = np.sum(~np.isnan(chart_close), axis=1) >= policy.chart_min_rows
    if policy.breakout_excludes_today:
        high = high[:, :-1]
    high_52w = _nanmax(high[:, -policy.week52_rows :])
    has_52w = high_52w > 0
    new_high = has_52w & (c >= high_52w * policy.new_high_ratio)
    breakout = has_52w & (c > high_52w)
    chart_high = high[:, -policy.chart_rows :]
    full_chart = np.sum(~np.isnan(chart_close), axis=1) >= policy.chart_rows
    breakout |= full_chart & (c > _nanmax(chart_high))
    mas = [
        close[:, -n:].mean(axis=1) if close.shape[1] >= n else np.full(len(c), np.nan)
        for n in policy.ma_windows
    ]
    ma_aligned = (c > mas[0]) & (mas[0] > mas[1]) & (mas[1] > mas[2])
    new_high &= enough
    breakout &= enough
    ma_aligned &= enough
    score = (new_high | breakout).astype(np.int64) + ma_aligned.astype(np.int64)
    return ChartResult(score, new_high, breakout, ma_aligned)


def consolidation_scores(window: MarketWindow, policy: ClosingBetPolicy) -> BoolArray:
    """1 when (sideways or contracted) and the close beats the 20-row high (today included)."""
    high = np.where(window.halted, np.nan, window.high)
    low = np.where(window.halted, np.nan, window.low)
    n, m = policy.consolidation_rows, policy.consolidation_short_rows
    enough = np.sum(~np.isnan(window.close[:, -policy.chart_rows :]), axis=1) >= (
        policy.chart_min_rows
    )
    h20, l20 = _nanmax(high[:, -n:]), _nanmin(low[:, -n:])
    if policy.consolidation_excludes_today:
        h20 = _nanmax(high[:, -n - 1 : -1])
    h5, l5 = _nanmax(high[:, -m:]), _nanmin(low[:, -m:])
    with np.errstate(divide="ignore", invalid="ignore"):
        r20 = np.where(l20 > 0, (h20 - l20) / l20, 999.0)
        r5 = np.where(l5 > 0, (h5 - l5) / l5, 999.0)
    sideways = r20 <= policy.sideways_max_range
    contracted = r5 < r20 * policy.contraction_factor
    breakout = window.close[:, -1] > h20
    return enough & (sideways | contracted) & breakout


def _flow_sum(flows: FloatArray, rows: int) -> FloatArray:
    """Sum of the last ``rows`` days; NaN when the source has no row in that span."""
    last = flows[:, -rows:]
    present = np.any(~np.isnan(last), axis=1)
    return np.where(present, np.nansum(last, axis=1), np.nan)


@dataclass(frozen=True)
class DayFeatures:
    """Everything the engine reads from the scan day, one entry per ticker."""

    close: FloatArray
    change_pct: FloatArray
    trading_value: FloatArray
    foreign_5d: FloatArray
    inst_5d: FloatArray
    volume_ratio: FloatArray
    universe: BoolArray


def day_features(window: MarketWindow, policy: ClosingBetPolicy) -> DayFeatures:
    """Scan-day prices, change, trading value, 5-day flows and the universe mask."""
    if window.shape[1] < 2:
        raise ValueError("the closing-bet scan needs at least two days (today and yesterday)")
    close = window.close[:, -1]
    prev = window.close[:, -2]
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.round((close / prev - 1.0) * 100.0, 2)
    tv = window.trading_value[:, -1]
    tv = np.where(np.isnan(tv), close * window.volume[:, -1], tv)
    if policy.supply_unit == "shares":
        f5 = _flow_sum(window.foreign_net_shares, policy.supply_rows)
        i5 = _flow_sum(window.inst_net_shares, policy.supply_rows)
    else:
        f5 = _flow_sum(window.foreign_net_krw, policy.supply_rows)
        i5 = _flow_sum(window.inst_net_krw, policy.supply_rows)
    prior_vol = window.volume[:, -21:-1]
    counted = np.sum(~np.isnan(prior_vol), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Mean of the present rows (NaN when none), without nanmean's empty-slice warning.
        avg = np.where(counted > 0, np.nansum(prior_vol, axis=1) / counted, np.nan)
        vol_ratio = window.volume[:, -1] / avg

    names = [str(n) for n in window.names]
    name_ok = np.array(
        [
            not any(k in n for k in policy.excluded_keywords)
            and not (
                policy.exclude_preferred_suffix and n.endswith(policy.exclude_preferred_suffix)
            )
            for n in names
        ],
        dtype=bool,
    )
    for flag in policy.excluded_flags:
        if flag in window.flags:
            name_ok &= ~window.flags[flag]
    universe = (
        name_ok
        & ~window.halted[:, -1]
        & (close >= policy.min_price)
        & (close <= policy.max_price)
        & (change >= policy.min_change_pct)
        & (change <= policy.max_change_pct)
        & (tv >= policy.min_trading_value)
        & np.isin(window.markets.astype(str), list(policy.markets))
    )
    return DayFeatures(close, change, tv, f5, i5, vol_ratio, universe)


def select_candidates(window: MarketWindow, policy: ClosingBetPolicy) -> list[int]:
    """Row indices of the top gainers per market (markets in policy order, change descending).

    The order is the order the original engine scored them in, which breaks grade/score ties.
    """
    feats = day_features(window, policy)
    markets = window.markets.astype(str)
    out: list[int] = []
    for market in policy.markets:
        rows = np.flatnonzero(feats.universe & (markets == market))
        order = sorted(rows.tolist(), key=lambda r: (-feats.change_pct[r], str(window.tickers[r])))
        out.extend(order[: policy.top_n_per_market])
    return out


# --------------------------------------------------------------------------- grades and sizing


def grades(
    total: ArrayLike,
    trading_value: ArrayLike,
    change_pct: ArrayLike,
    news: ArrayLike,
    volume: ArrayLike,
    policy: ClosingBetPolicy,
) -> npt.NDArray[np.str_]:
    """S/A/B/C per row: the mandatory gate (news ≥ 1 and volume ≥ 1), then S, A, B in order."""
    t = np.asarray(total, dtype=np.float64)
    tv = np.asarray(trading_value, dtype=np.float64)
    ch = np.asarray(change_pct, dtype=np.float64)
    gate = (np.asarray(news) >= 1) & (np.asarray(volume) >= 1)

    def passes(rule: GradeRule) -> BoolArray:
        ok = gate & (t >= rule.min_score) & (tv >= rule.min_trading_value)
        if rule.min_change_pct is not None:
            ok &= ch >= rule.min_change_pct
        if rule.max_change_pct is not None:
            ok &= ch <= rule.max_change_pct
        return ok

    g = policy.grades
    return np.select([passes(g.s), passes(g.a), passes(g.b)], ["S", "A", "B"], default="C")


@dataclass(frozen=True)
class Sizing:
    entry_price: int
    stop_price: int
    target_price: int
    quantity: int
    position_size: int
    r_value: float
    r_multiplier: float


def size_position(
    entry_price: float,
    grade: str,
    policy: ClosingBetPolicy,
    available_cash: float | None = None,
) -> Sizing:
    """position_sizer.py: R × multiplier ÷ stop, capped at 50% of capital (and cash)."""
    if entry_price <= 0 or not np.isfinite(entry_price):
        raise ValueError(f"entry price must be a positive number, got {entry_price!r}")
    rules = {"S": policy.grades.s, "A": policy.grades.a, "B": policy.grades.b}
    multiplier = rules[grade].r_multiplier if grade in rules else 0.0
    r_value = policy.capital * policy.r_ratio
    risk = r_value * multiplier
    position = min(risk / policy.stop_loss_pct, policy.capital * policy.max_position_ratio)
    if available_cash is not None:
        position = min(position, available_cash)
    quantity = int(position / entry_price)
    return Sizing(
        entry_price=int(entry_price),
        stop_price=int(entry_price * (1 - policy.stop_loss_pct)),
        target_price=int(entry_price * (1 + policy.take_profit_pct)),
        quantity=quantity,
        position_size=int(quantity * entry_price),
        r_value=float(r_value),
        r_multiplier=multiplier,
    )


# --------------------------------------------------------------------------- the scan


@dataclass(frozen=True)
class ScoredCandidate:
    """One scored candidate (any grade, C included) before selection."""

    row: int
    grade: str
    news: int
    volume: int
    chart: int
    candle: int
    consolidation: int
    supply: int
    total: int


@dataclass(frozen=True)
class ClosingBetRun:
    """The result of one scan: kept signals plus what was scored (for diagnostics)."""

    date: str
    signals: list[dict[str, Any]]
    scored: list[ScoredCandidate]
    candidates: int

    def to_dict(self, *, updated_at: str, processing_time_ms: float = 0.0) -> dict[str, Any]:
        """The ``jongga_v2_results_YYYYMMDD.json`` body (total_candidates = len(signals))."""
        by_grade: dict[str, int] = {g: 0 for g in GRADE_ORDER}
        by_market: dict[str, int] = {}
        for s in self.signals:
            by_grade[s["grade"]] += 1
            by_market[s["market"]] = by_market.get(s["market"], 0) + 1
        return {
            "date": self.date,
            "total_candidates": len(self.signals),
            "filtered_count": len(self.signals),
            "signals": self.signals,
            "by_grade": by_grade,
            "by_market": by_market,
            "processing_time_ms": float(processing_time_ms),
            "updated_at": updated_at,
        }


def _news_list(news: Mapping[str, Sequence[Mapping[str, Any]]] | None, ticker: str) -> list[dict]:
    if not news:
        return []
    return [dict(item) for item in news.get(ticker, ())]


def _int_or_none(x: float) -> int | None:
    return None if not np.isfinite(x) else int(x)


def run_closing_bet(
    window: MarketWindow,
    policy: ClosingBetPolicy,
    *,
    news: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    llm: Mapping[str, Mapping[str, Any]] | None = None,
    news_counts: Mapping[str, int] | None = None,
    sectors: Mapping[str, str] | None = None,
    signal_time: str | None = None,
    assumed_news_count: int = 0,
    available_cash: float | None = None,
) -> ClosingBetRun:
    """Scan the window's last day.

    ``news`` maps ticker → items ``{title, source, published_at, url}``; ``llm`` maps ticker →
    ``{score: 0–3, reason}`` (absent = no LLM result, so the keyword fallback applies).
    ``news_counts`` gives item counts where only counts are known (they win over ``news``);
    ``assumed_news_count`` stands in for tickers absent from both (backtests have no
    historical news; 0 keeps the original behaviour).
    """
    date = str(np.datetime_as_string(window.dates[-1].astype("datetime64[D]")))
    feats = day_features(window, policy)
    rows = select_candidates(window, policy)
    if not rows:
        return ClosingBetRun(date, [], [], 0)
    idx = np.asarray(rows)
    tickers = [str(window.tickers[r]) for r in rows]
    items = [_news_list(news, t) for t in tickers]
    counts = np.array(
        [
            int(news_counts[t])
            if news_counts and t in news_counts
            else len(it)
            if (news and t in news)
            else assumed_news_count
            for t, it in zip(tickers, items, strict=True)
        ]
    )
    llm_raw = [llm.get(t) if llm else None for t in tickers]
    llm_arr = np.array(
        [np.nan if r is None else float(r.get("score", 0) or 0) for r in llm_raw], dtype=float
    )

    chart = chart_scores(window, policy)
    candle = candle_scores(
        window.open[idx, -1], window.high[idx, -1], window.low[idx, -1], feats.close[idx], policy
    )
    cons = consolidation_scores(window, policy)[idx].astype(np.int64)
    news_s = news_scores(counts, llm_arr, policy)
    vol_s = volume_scores(feats.trading_value[idx], policy)
    sup_s = supply_scores(feats.foreign_5d[idx], feats.inst_5d[idx])
    chart_s = chart.score[idx]
    total = news_s + vol_s + chart_s + candle.score + cons + sup_s
    grade = grades(total, feats.trading_value[idx], feats.change_pct[idx], news_s, vol_s, policy)

    scored = [
        ScoredCandidate(
            row=int(r),
            grade=str(grade[k]),
            news=int(news_s[k]),
            volume=int(vol_s[k]),
            chart=int(chart_s[k]),
            candle=int(candle.score[k]),
            consolidation=int(cons[k]),
            supply=int(sup_s[k]),
            total=int(total[k]),
        )
        for k, r in enumerate(rows)
    ]
    rank: dict[str, int] = {g: i for i, g in enumerate(GRADE_ORDER)}
    kept = [k for k in range(len(rows)) if grade[k] != "C"]
    kept.sort(key=lambda k: (rank[str(grade[k])], -int(total[k])))  # stable: scan order on ties
    kept = kept[: policy.max_positions]

    signals = []
    for k in kept:
        r = rows[k]
        sc = scored[k]
        sizing = size_position(float(feats.close[r]), sc.grade, policy, available_cash)
        news_items = items[k]
        llm_result = llm_raw[k]
        sources = list(dict.fromkeys(str(it.get("source", "")) for it in news_items))
        ticker = tickers[k]
        signals.append(
            {
                "id": None,
                "stock_code": ticker,
                "stock_name": str(window.names[r]),
                "market": str(window.markets[r]),
                "signal_date": date,
                "grade": sc.grade,
                "score": {
                    "news": sc.news,
                    "volume": sc.volume,
                    "chart": sc.chart,
                    "candle": sc.candle,
                    "consolidation": sc.consolidation,
                    "supply": sc.supply,
                    "llm_reason": str(llm_result.get("reason", "")) if llm_result else "",
                    "total": sc.total,
                },
                "checklist": {
                    "mandatory": {"news": sc.news >= 1, "volume": sc.volume >= 1},
                    "optional": {
                        "chart": sc.chart > 0,
                        "candle": sc.candle > 0,
                        "consolidation": sc.consolidation > 0,
                        "supply": sc.supply > 0,
                    },
                    "negative": {
                        # The collectors always set sentiment "neutral"; no rule ever set these.
                        "negative_news": False,
                        "upper_wick_long": bool(candle.upper_wick_long[k]),
                        "volume_suspicious": False,
                    },
                },
                "entry_price": sizing.entry_price,
                "stop_price": sizing.stop_price,
                "target_price": sizing.target_price,
                "quantity": sizing.quantity,
                "position_size": sizing.position_size,
                "r_value": sizing.r_value,
                "trading_value": int(feats.trading_value[r]),
                "change_pct": float(feats.change_pct[r]),
                "foreign_5d": _int_or_none(float(feats.foreign_5d[r])),
                "inst_5d": _int_or_none(float(feats.inst_5d[r])),
                "status": "PENDING",
                "news_items": [
                    {
                        "title": str(it.get("title", "")),
                        "source": str(it.get("source", "")),
                        "published_at": str(it.get("published_at", "") or ""),
                        "url": str(it.get("url", "")),
                    }
                    for it in news_items[:5]
                ],
                "themes": [],
                # Flat keys the original closing-bet page read.
                "has_news": bool(len(news_items) > 0 or counts[k] > 0),
                "news_sources": sources,
                "is_new_high": bool(chart.new_high[r]),
                "is_breakout": bool(chart.breakout[r]),
                "supply_positive": sc.supply > 0,
                "volume_surge": bool(feats.volume_ratio[r] >= policy.volume_surge_ratio),
                "sector": (sectors or {}).get(ticker, ""),
                "current_price": sizing.entry_price,
                "signal_time": signal_time or "",
                "r_multiplier": sizing.r_multiplier,
            }
        )
    return ClosingBetRun(date, signals, scored, len(rows))


# --------------------------------------------------------------------------- risk helpers


def reward_risk_ratio(policy: ClosingBetPolicy) -> float:
    """Target distance ÷ stop distance (5 % ÷ 3 % ≈ 1.67)."""
    return policy.take_profit_pct / policy.stop_loss_pct


def within_loss_limit(
    realized_loss_won: float, policy: ClosingBetPolicy, period: Literal["daily", "weekly"]
) -> bool:
    """check_daily_limit / check_weekly_limit: True while the loss is below 2R (day) / 4R (week).

    ``realized_loss_won`` is the period's realized loss as a positive number of won.
    """
    limit_r = policy.daily_loss_limit_r if period == "daily" else policy.weekly_loss_limit_r
    return realized_loss_won < limit_r * policy.r_value


def half_kelly(win_rate: float, avg_win_pct: float, avg_loss_pct: float) -> float:
    """Half of the Kelly fraction W − (1 − W) ÷ (avg win ÷ avg loss), floored at 0.

    ``win_rate`` is a fraction (0–1); the averages are positive percentages.
    """
    if not 0 <= win_rate <= 1:
        raise ValueError("win_rate must be a fraction between 0 and 1")
    if avg_win_pct <= 0 or avg_loss_pct <= 0:
        return 0.0
    kelly = win_rate - (1 - win_rate) / (avg_win_pct / avg_loss_pct)
    return max(0.0, kelly / 2)
