"""``vcp-legacy``: SignalTracker's VCP rule and the Gen0 ``final_score`` ranking (§4.1, §2.1)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from krstock.domain.flows import FlowAnalysis
from krstock.domain.indicators import align_valid_right
from krstock.domain.market import MarketWindow

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class VcpLegacyPolicy(BaseModel):
    """Defaults of ``signal_tracker.py`` (Gen1) and the Gen0 ``/signals`` ranking."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    foreign_min_5d: float = Field(
        50_000, description="foreign_net_buy_5d at least this many SHARES"
    )
    supply_demand_min: float = Field(
        60, ge=0, le=100, description="supply_demand_index at least this"
    )
    lookback_days: int = Field(
        20, ge=4, description="rows examined; contraction compares its two halves"
    )
    contraction_max: float = Field(
        0.8, gt=0, description="range(last half) / range(first half) at most this"
    )
    near_high_pct: float = Field(
        0.92, gt=0, le=1, description="close at least this × the highest close"
    )
    volume_check: bool = Field(
        False, description="p10 variant: also require the volume check below"
    )
    volume_ratio_max: float = Field(
        1.2, gt=0, description="p10: avg volume of the last half below this × avg of the first half"
    )
    rank_contraction_max: float = Field(
        0.8, description="ranking drops rows with contraction_ratio above this"
    )
    rank_min_score: float = Field(50, description="ranking drops rows with score below this")
    rank_flow_scale: float = Field(
        100_000, gt=0, description="final_score flow term divisor (shares)"
    )
    rank_flow_cap: float = Field(30, description="final_score flow term cap before ×2")
    rank_today_bonus: float = Field(10, description="final_score bonus when signal_date == today")
    rank_top_n: int = Field(20, ge=1, description="ranking keeps this many")


@dataclass(frozen=True)
class LegacyShape:
    """``detect_vcp_forming`` for every ticker on its last ``lookback_days`` price rows."""

    contraction: FloatArray
    near_high: BoolArray
    volume_ok: BoolArray
    is_vcp: BoolArray
    entry_price: FloatArray


@dataclass(frozen=True)
class LegacySignal:
    """One signals_log row at detection (status OPEN, hold_days 0 are the tracker's)."""

    ticker: str
    signal_date: str
    foreign_5d: int
    inst_5d: int
    score: float
    contraction_ratio: float
    entry_price: float

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def detect_vcp_forming(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    policy: VcpLegacyPolicy,
) -> LegacyShape:
    """contraction = range(last half) ÷ range(first half), range = max(high) − min(low);
    near_high = last close ≥ 0.92 × the highest close; VCP = near_high AND contraction ≤ 0.8.

    Rows are the days with a close (a ticker's own rows, as in daily_prices.csv); a ticker with
    fewer rows than the lookback, or a zero first range, is rejected (contraction NaN)."""
    c = np.atleast_2d(np.asarray(close, dtype=np.float64))
    if c.shape[1] == 0:
        raise ValueError("the window has no days")
    rows = np.isfinite(c)
    n = policy.lookback_days
    half = n // 2

    def last_rows(values: npt.ArrayLike) -> FloatArray:
        arr = np.atleast_2d(np.asarray(values, dtype=np.float64))
        return align_valid_right(arr, rows)[:, -n:]

    h, lo, cl, vol = last_rows(high), last_rows(low), last_rows(c), last_rows(volume)
    enough = rows.sum(axis=1) >= n
    first_range = _max(h[:, :half]) - _min(lo[:, :half])
    last_range = _max(h[:, -half:]) - _min(lo[:, -half:])
    usable = enough & (first_range > 0)
    with np.errstate(all="ignore"):
        contraction = np.where(usable, last_range / np.where(usable, first_range, 1.0), np.nan)
        volume_ok = _mean(vol[:, -half:]) < policy.volume_ratio_max * _mean(vol[:, :half])
    entry = cl[:, -1]
    near_high = enough & (entry >= policy.near_high_pct * _max(cl))
    is_vcp = usable & near_high & (contraction <= policy.contraction_max)
    if policy.volume_check:
        is_vcp &= volume_ok
    return LegacyShape(
        contraction=contraction,
        near_high=near_high,
        volume_ok=volume_ok,
        is_vcp=is_vcp,
        entry_price=np.where(enough, entry, np.nan),
    )


def _max(values: FloatArray) -> FloatArray:
    return np.where(np.isfinite(values), values, -np.inf).max(axis=1)


def _min(values: FloatArray) -> FloatArray:
    return np.where(np.isfinite(values), values, np.inf).min(axis=1)


def _mean(values: FloatArray) -> FloatArray:
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    total = np.where(finite, values, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def flow_gate(
    foreign_5d: FloatArray, supply_demand_index: FloatArray, policy: VcpLegacyPolicy
) -> BoolArray:
    """Step 1: foreign_net_buy_5d ≥ 50,000 shares AND supply_demand_index ≥ 60."""
    gate: BoolArray = (np.nan_to_num(foreign_5d, nan=-np.inf) >= policy.foreign_min_5d) & (
        np.nan_to_num(supply_demand_index, nan=-np.inf) >= policy.supply_demand_min
    )
    return gate


def scan_legacy_signals(
    window: MarketWindow, flows: FlowAnalysis, policy: VcpLegacyPolicy
) -> list[LegacySignal]:
    """SignalTracker.scan_today_signals for the window's last day, over the whole universe.

    ``flows`` must be in shares: the 50,000 threshold is a share count."""
    if flows.unit != "shares":
        raise ValueError(f"vcp-legacy thresholds are in shares; flows are in {flows.unit}")
    foreign_5d = flows.windows.foreign_net[5]
    inst_5d = flows.windows.inst_net[5]
    index = flows.supply_demand_index
    if foreign_5d.shape[0] != len(window.tickers):
        raise ValueError("flows and window must cover the same tickers")
    gate = flow_gate(foreign_5d, index, policy)
    shape = detect_vcp_forming(window.high, window.low, window.close, window.volume, policy)
    hits = np.flatnonzero(gate & shape.is_vcp)
    signal_date = str(np.datetime64(window.dates[-1], "D"))
    return [
        LegacySignal(
            ticker=str(window.tickers[i]),
            signal_date=signal_date,
            foreign_5d=round(float(foreign_5d[i])),
            inst_5d=round(float(np.nan_to_num(inst_5d[i]))),
            score=round(float(index[i]), 1),
            contraction_ratio=round(float(shape.contraction[i]), 3),
            entry_price=float(shape.entry_price[i]),
        )
        for i in hits
    ]


def final_score(
    score: float,
    contraction_ratio: float,
    foreign_5d: float,
    inst_5d: float,
    is_today: bool,
    policy: VcpLegacyPolicy,
) -> float:
    """Gen0: 0.4·score + 0.3·(1 − contraction)·100 + 2·min((f5 + i5) / 100000, 30) + 10 if today,
    rounded to 1 dp."""
    flow = min((foreign_5d + inst_5d) / policy.rank_flow_scale, policy.rank_flow_cap)
    total = 0.4 * score + 0.3 * (1.0 - contraction_ratio) * 100.0 + 2.0 * flow
    if is_today:
        total += policy.rank_today_bonus
    return round(total, 1)


@dataclass(frozen=True)
class RankedSignals:
    signals: list[dict[str, Any]]
    total_filtered: int


def rank_signals(
    rows: Iterable[Mapping[str, Any]], today: date | str, policy: VcpLegacyPolicy
) -> RankedSignals:
    """The Gen0 ranked mode of ``/api/kr/signals``: OPEN rows; drop contraction > 0.8, both
    flows < 0 and score < 50; add final_score; best first; top 20. ``today`` is a parameter."""
    today_text = today.isoformat() if isinstance(today, date) else str(today)
    kept: list[dict[str, Any]] = []
    for row in rows:
        if row.get("status", "OPEN") != "OPEN":
            continue
        contraction = float(row["contraction_ratio"])
        foreign, inst, score = float(row["foreign_5d"]), float(row["inst_5d"]), float(row["score"])
        if contraction > policy.rank_contraction_max:
            continue
        if foreign < 0 and inst < 0:
            continue
        if score < policy.rank_min_score:
            continue
        is_today = str(row["signal_date"])[:10] == today_text
        ranked = dict(row)
        ranked["final_score"] = final_score(score, contraction, foreign, inst, is_today, policy)
        kept.append(ranked)
    kept.sort(key=lambda r: r["final_score"], reverse=True)
    return RankedSignals(signals=kept[: policy.rank_top_n], total_filtered=len(kept))
