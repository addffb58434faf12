"""Admin routes (admin key): the service registry and cache invalidation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from krstock.api.deps import AdminKey, StateDep
from krstock.api.infra.errors import ApiError
from krstock.cache import GROUPS

router = APIRouter(tags=["admin"])


# Internal addresses are not for anonymous readers: admin only.
@router.get("/services", summary="The service registry (admin key)")
def services(state: StateDep, _: AdminKey, check: bool = False) -> dict[str, Any]:
    if check:
        state.registry.check_health(timeout_s=state.api.upstream_timeout_s)
    described = state.registry.describe()
    for name, breaker in state.client.breakers.items():
        entry = described.get(name)
        if isinstance(entry, dict):
            entry["breaker"] = breaker.state
    return described


@router.post("/admin/cache/invalidate", summary="Drop cache groups (admin key)")
def invalidate(state: StateDep, _: AdminKey, group: str = "all") -> dict[str, Any]:
    groups = GROUPS if group == "all" else tuple(g for g in GROUPS if g == group)
    if not groups:
        raise ApiError(400, f"unknown cache group {group!r}; use all or {', '.join(GROUPS)}")
    return {"removed": state.cache.invalidate(*groups), "groups": list(groups)}
