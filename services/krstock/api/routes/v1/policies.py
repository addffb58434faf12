"""Signal policies: the rule settings each strategy runs with (monolith defaults)."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter

from krstock.api.deps import READ_ACCESS
from krstock.api.infra.errors import ApiError
from krstock.api.routes.v1.docs import ERRORS

router = APIRouter(tags=["policies"], dependencies=[READ_ACCESS], responses=ERRORS)

# (strategy, module, class) of each engine's policy model in krstock.domain.
POLICY_MODELS = (
    ("vcp_legacy", "krstock.domain.vcp_legacy", "VcpLegacyPolicy"),
    ("vcp", "krstock.domain.vcp", "VcpPolicy"),
    ("trend_template", "krstock.domain.trend_template", "TrendTemplatePolicy"),
    ("closing_bet", "krstock.domain.closing_bet", "ClosingBetPolicy"),
    ("market_gate", "krstock.domain.market_gate", "MarketGatePolicy"),
    ("flows", "krstock.domain.flows", "FlowPolicy"),
    ("tracking", "krstock.domain.tracking", "TrackingPolicy"),
)


def monolith_policy() -> dict[str, Any]:
    sections: dict[str, Any] = {}
    for name, module_name, class_name in POLICY_MODELS:
        model = getattr(importlib.import_module(module_name), class_name)
        sections[name] = model().model_dump(mode="json")
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
