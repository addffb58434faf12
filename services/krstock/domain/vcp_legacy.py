"""``vcp-legacy``: SignalTracker's VCP rule and the Gen0 ``final_score`` ranking (§4.1, §2.1)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
