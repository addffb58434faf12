"""``trend-template``: Minervini's trend template with an RS percentile rank over the universe."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
