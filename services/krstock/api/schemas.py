"""Request bodies of the trigger routes (``POST /api/v1/runs``, ``/scan``, ``/generate``,
``/analyze``), with their OpenAPI examples."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

RunKindName = Literal[
    "vcp",
    "vcp_legacy",
    "trend_template",
    "closing_bet",
    "market_gate",
    "collect",
    "track",
    "analyze",
    "pipeline",
    "backtest",
]
ScanKind = Literal["vcp", "vcp_legacy", "closing_bet", "market_gate"]
Strategy = Literal["vcp", "vcp_legacy", "closing_bet"]
# The strategies /api/v1 reports on. One spelling of the Literal for every route: pydantic
# caches a Literal's schema by its (order-blind) equality, so the first order seen would win.
ReportedStrategy = Literal["vcp", "vcp_legacy", "closing_bet", "trend_template"]


class RunRequest(BaseModel):
    kind: RunKindName = Field(description="what to run")
    date: str | None = Field(default=None, description="YYYY-MM-DD (default: latest data)")
    policy: str | None = Field(default=None, max_length=64, description="SignalPolicy name")
    scanjob: str | None = Field(
        default=None, max_length=253, pattern=r"^[a-z0-9-]+/[a-z0-9.-]+$", description="ns/name"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="extra task arguments")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"kind": "vcp_legacy", "date": "2026-02-10"},
                {"kind": "pipeline", "scanjob": "krstock/daily-scan"},
            ]
        }
    }


class ScanRequest(BaseModel):
    kind: ScanKind = Field(default="vcp", description="which scan to run")
    date: str | None = Field(default=None, description="scan date YYYY-MM-DD (default: latest)")
    policy: str | None = Field(default=None, max_length=64, description="SignalPolicy name")
    scanjob: str | None = Field(default=None, max_length=253, description="namespace/name")

    model_config = {"json_schema_extra": {"examples": [{"kind": "vcp", "date": "2026-02-10"}]}}


class GenerateRequest(BaseModel):
    strategies: list[Strategy] = Field(default=["vcp_legacy", "closing_bet"], min_length=1)
    date: str | None = Field(default=None, description="YYYY-MM-DD (default: latest data)")
    policy: str | None = Field(default=None, max_length=64)

    model_config = {
        "json_schema_extra": {"examples": [{"strategies": ["closing_bet"], "date": "2026-02-05"}]}
    }


class AnalyzeRequest(BaseModel):
    date: str | None = Field(default=None, description="signal date YYYY-MM-DD (default latest)")
    tickers: list[str] = Field(default_factory=list, max_length=50)
    top: int = Field(default=10, ge=1, le=50, description="how many top signals to analyse")

    model_config = {"json_schema_extra": {"examples": [{"date": "2026-02-10", "top": 10}]}}
