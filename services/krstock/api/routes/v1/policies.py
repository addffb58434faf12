"""Signal policies: the rule settings each strategy runs with (monolith defaults)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from krstock.api.deps import READ_ACCESS
from krstock.api.infra.errors import ApiError
from krstock.api.routes.v1.docs import ERRORS
from krstock.domain.closing_bet import ClosingBetPolicy
from krstock.domain.flows import FlowPolicy
from krstock.domain.market_gate import MarketGatePolicy
from krstock.domain.tracking import TrackingPolicy
from krstock.domain.trend_template import TrendTemplatePolicy
from krstock.domain.vcp import VcpPolicy
from krstock.domain.vcp_legacy import VcpLegacyPolicy

router = APIRouter(tags=["policies"], dependencies=[READ_ACCESS], responses=ERRORS)

# Each engine's policy model in krstock.domain, under the API's name for it.
POLICY_MODELS = (
    ("vcp_legacy", VcpLegacyPolicy),
    ("vcp", VcpPolicy),
    ("trend_template", TrendTemplatePolicy),
    ("closing_bet", ClosingBetPolicy),
    ("market_gate", MarketGatePolicy),
    ("flows", FlowPolicy),
    ("tracking", TrackingPolicy),
)


def monolith_policy() -> dict[str, Any]:
    sections = {name: model().model_dump(mode="json") for name, model in POLICY_MODELS}
    return {"name": "monolith", "description": "the monolith's defaults", "strategies": sections}


@router.get("/policies", summary="Known policies")
def policies() -> dict[str, Any]:
    data = [monolith_policy()]
    return {"data": data, "count": len(data), "limit": len(data), "next_cursor": None}


@router.get("/policies/{name}", summary="One policy")
def policy(name: str) -> dict[str, Any]:
    if name != "monolith":
        raise ApiError(
            404,
            f"no policy named {name[:64]!r}; custom policies are SignalPolicy resources "
            "applied by the operator",
        )
    return monolith_policy()
