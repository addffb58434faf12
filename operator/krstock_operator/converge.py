"""Converge a ScanJob's children to the desired set: create, merge-patch, delete orphans.

Patches are three-way (like ``kubectl apply``): each child carries the JSON of what the operator
last applied, so a field the operator stops setting is removed (``null`` in the merge patch)
while fields other controllers own (replicas under an autoscaler) are left alone. Scalars and
maps are compared with the live object (drift is repaired); lists, which the API server fills
with defaults, are compared with the last-applied copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes_asyncio.client.exceptions import ApiException

from krstock_operator.manifests import Owner

LAST_APPLIED = "krstock.io/last-applied"


class ChildStore(Protocol):
    async def list_owned(self, kind: str, owner: Owner) -> list[dict[str, Any]]: ...
    async def create(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]: ...
    async def patch(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]: ...
    async def delete(self, kind: str, namespace: str, name: str) -> None: ...


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    patched: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def children(self) -> list[str]:
        return sorted({*self.created, *self.patched, *self.unchanged})


def three_way_patch(last: Any, desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """A merge patch taking ``live`` to ``desired``; drops what ``last`` set and desired lacks."""
    last = last if isinstance(last, dict) else {}
    patch: dict[str, Any] = {}
    for key in last:
        if key not in desired and key in live:
            patch[key] = None
    for key, value in desired.items():
        current = live.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            sub = three_way_patch(last.get(key), value, current)
            if sub:
                patch[key] = sub
        elif isinstance(value, list) and key in last:
            if last[key] != value or key not in live:
                patch[key] = value
        elif current != value:
            patch[key] = value
    return patch


def with_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` annotated with its own JSON (the base of the next three-way patch)."""
    annotated = json.loads(json.dumps(obj))
    annotations = annotated["metadata"].setdefault("annotations", {})
    annotations.pop(LAST_APPLIED, None)
    annotations[LAST_APPLIED] = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return annotated


def _last_applied(live: dict[str, Any]) -> dict[str, Any]:
    text = (live.get("metadata", {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}


def _patchable(kind: str, desired: dict[str, Any]) -> dict[str, Any]:
    """Jobs are immutable but for labels and suspend; everything else is patched whole."""
    if kind != "Job":
        return desired
    return {
        "metadata": {"labels": desired["metadata"]["labels"]},
        "spec": {"suspend": desired["spec"].get("suspend", False)},
    }


async def converge(
    store: ChildStore,
    owner: Owner,
    desired: list[dict[str, Any]],
    existing: dict[str, list[dict[str, Any]]],
) -> Outcome:
    """Create what is missing, patch what differs, delete owned objects no longer desired.

    ``existing`` maps each kind that can be listed in this cluster to its owned objects. A failing
    call is recorded in ``Outcome.errors`` (for a condition and an event); the others proceed.
    """
    outcome = Outcome()
    wanted = {(obj["kind"], obj["metadata"]["name"]) for obj in desired}
    live_by_key = {
        (kind, obj["metadata"]["name"]): obj for kind, objs in existing.items() for obj in objs
    }
    for obj in desired:
        kind, name = obj["kind"], obj["metadata"]["name"]
        label = f"{kind}/{name}"
        try:
            live = live_by_key.get((kind, name))
            if live is None:
                await store.create(kind, with_last_applied(obj))
                outcome.created.append(label)
                continue
            if kind == "Job":  # immutable: compare and patch only the mutable fields
                last = _last_applied(live)
                base = _patchable(kind, last) if last else {}
                patch = three_way_patch(base, _patchable(kind, obj), live)
            else:
                patch = three_way_patch(_last_applied(live), with_last_applied(obj), live)
            if patch:
                await store.patch(kind, owner.namespace, name, patch)
                outcome.patched.append(label)
            else:
                outcome.unchanged.append(label)
        except ApiException as exc:
            outcome.errors.append(f"{label}: {exc.status} {exc.reason}")
    for (kind, name), _live in sorted(live_by_key.items()):
        if (kind, name) in wanted:
            continue
        try:
            await store.delete(kind, owner.namespace, name)
            outcome.deleted.append(f"{kind}/{name}")
        except ApiException as exc:
            outcome.errors.append(f"{kind}/{name}: {exc.status} {exc.reason}")
    return outcome
