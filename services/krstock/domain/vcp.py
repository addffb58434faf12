"""``vcp``: a Minervini volatility-contraction-pattern detector, vectorized over the universe."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from krstock.domain.trend_template import TrendTemplatePolicy


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
    min_base_days: int = Field(
        15, ge=5, description="days from the left-side high to today at least"
    )
    swing_pct: float = Field(
        0.03,
        gt=0,
        lt=0.5,
        description="zigzag reversal that confirms a swing high or low (fraction)",
    )
    min_contractions: int = Field(2, ge=2, le=6, description="contractions at least")
    max_contractions: int = Field(6, ge=2, le=10, description="contractions at most")
    max_first_depth: float = Field(0.35, gt=0, lt=1, description="first contraction depth at most")
    min_first_depth: float = Field(0.06, ge=0, lt=1, description="first contraction depth at least")
    max_last_depth: float = Field(0.12, gt=0, lt=1, description="last contraction depth at most")
    require_higher_lows: bool = Field(
        True, description="each contraction's low above the previous one's"
    )
    volume_avg_days: int = Field(50, ge=5, description="average volume window (days before today)")
    dry_up_max_ratio: float = Field(
        0.8, gt=0, description="avg volume in the last contraction below this × the average volume"
    )
    breakout_volume_mult: float = Field(
        1.4, gt=0, description="breakout volume at least this × the average"
    )
    max_pivot_distance: float = Field(
        0.10, gt=0, lt=1, description="a setup's close at least (1 - this) × the pivot"
    )
    weight_trend: float = Field(20, ge=0, description="score weight: trend template criteria met")
    weight_contractions: float = Field(
        20, ge=0, description="score weight: contraction count and sequence"
    )
    weight_tightness: float = Field(20, ge=0, description="score weight: last contraction depth")
    weight_volume: float = Field(15, ge=0, description="score weight: volume dry-up")
    weight_rs: float = Field(15, ge=0, description="score weight: RS rank")
    weight_breakout: float = Field(10, ge=0, description="score weight: breakout volume")
