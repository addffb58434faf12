"""ScanJob status: phase and metav1.Condition-shaped conditions, with transition times kept."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from krstock_operator.runs import RunRecord


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


def now_rfc3339(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_conditions(
    conditions: list[Condition],
    previous: list[dict[str, Any]] | None,
    generation: int | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """metav1.Condition dicts; lastTransitionTime moves only when the status flips."""
    before = {c.get("type"): c for c in previous or []}
    rendered = []
    for condition in conditions:
        status = "True" if condition.status else "False"
        old = before.get(condition.type)
        changed = old is None or old.get("status") != status
        item: dict[str, Any] = {
            "type": condition.type,
            "status": status,
            "reason": condition.reason,
            "message": condition.message,
            "lastTransitionTime": (
                now_rfc3339(now)
                if changed or old is None
                else old.get("lastTransitionTime", now_rfc3339(now))
            ),
        }
        if generation is not None:
            item["observedGeneration"] = generation
        rendered.append(item)
    return rendered


def phase_for(
    *, blocked: bool, scheduled: bool, suspended: bool, last_run: RunRecord | None
) -> str:
    if blocked:
        return "Blocked"
    if last_run is not None and last_run.state in ("PENDING", "RUNNING"):
        return "Running"
    if suspended:
        return "Suspended"
    if scheduled:
        return "Scheduled"
    if last_run is None:
        return "Pending"
    return {"SUCCEEDED": "Succeeded", "FAILED": "Failed"}[last_run.state]


def condition_transitions(
    previous: list[dict[str, Any]] | None, current: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The conditions whose status or reason changed (one event each, not one per resync)."""
    before = {c.get("type"): (c.get("status"), c.get("reason")) for c in previous or []}
    return [c for c in current if before.get(c["type"]) != (c["status"], c["reason"])]
