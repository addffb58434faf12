"""Investor flows (§4.1): windowed net sums, ratios, streaks, the supply-demand index, trend labels,
accumulation flags, momentum and the SmartMoneyScreener score.

Units: the monolith's thresholds are in SHARES (Naver flows). The same arithmetic runs on KRW flows
(Gen2), but a policy carries one unit and data of another unit is refused (``ValueError``), so share
thresholds are never applied to won amounts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
