"""The operator's own Prometheus metrics (served on ``KRSTOCK_OPERATOR_METRICS_PORT``)."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "krstock_operator_reconciles_total",
    "ScanJob reconciles by trigger and result",
    ["trigger", "result"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "krstock_operator_errors_total",
    "Problems met while reconciling, by kind (api, policy, child, unexpected)",
    ["kind"],
    registry=REGISTRY,
)
DURATION = Histogram(
    "krstock_operator_reconcile_duration_seconds",
    "Time of one ScanJob reconcile",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
MANAGED = Gauge(
    "krstock_operator_managed_objects",
    "Objects the operator currently manages, by kind",
    ["kind"],
    registry=REGISTRY,
)
SCANJOBS = Gauge("krstock_operator_scanjobs", "ScanJobs by phase", ["phase"], registry=REGISTRY)
DEGRADED = Gauge(
    "krstock_operator_scanjobs_degraded",
    "ScanJobs whose Degraded condition is True (failed last run, API unreachable, no KEDA)",
    registry=REGISTRY,
)

NEXT_RUN = Gauge(
    "krstock_operator_scanjob_next_run_timestamp_seconds",
    "When a scheduled ScanJob's CronJob runs next (status.nextRunAt)",
    ["namespace", "scanjob"],
    registry=REGISTRY,
)

# Per-ScanJob bookkeeping behind the gauges: (namespace, name) -> children / phase.
_children: dict[tuple[str, str], list[str]] = {}
_phases: dict[tuple[str, str], str] = {}
_degraded: set[tuple[str, str]] = set()


def record_state(
    key: tuple[str, str],
    children: list[str] | None,
    phase: str | None,
    conditions: list[dict[str, Any]] | None = None,
    next_run_at: str | None = None,
) -> None:
    """Remember (or forget, with None) one ScanJob's children, phase and Degraded condition, and
    refresh the gauges."""
    if children is None or next_run_at is None:
        with contextlib.suppress(KeyError):
            NEXT_RUN.remove(*key)
    else:
        when = dt.datetime.fromisoformat(next_run_at.replace("Z", "+00:00"))
        NEXT_RUN.labels(*key).set(when.timestamp())
    if children is None:
        _children.pop(key, None)
        _phases.pop(key, None)
        _degraded.discard(key)
    else:
        if conditions is not None:
            degraded = any(
                c.get("type") == "Degraded" and c.get("status") == "True" for c in conditions
            )
            (_degraded.add if degraded else _degraded.discard)(key)
        _children[key] = children
        if phase is not None:
            _phases[key] = phase
    counts: dict[str, int] = {}
    for names in _children.values():
        for label in names:
            kind = label.split("/", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
    for kind in {*counts, *(s.labels["kind"] for s in _samples(MANAGED))}:
        MANAGED.labels(kind=kind).set(counts.get(kind, 0))
    phases: dict[str, int] = {}
    for phase_name in _phases.values():
        phases[phase_name] = phases.get(phase_name, 0) + 1
    for phase_name in {*phases, *(s.labels["phase"] for s in _samples(SCANJOBS))}:
        SCANJOBS.labels(phase=phase_name).set(phases.get(phase_name, 0))
    DEGRADED.set(len(_degraded))


def _samples(gauge: Gauge) -> list[Any]:
    return [s for metric in gauge.collect() for s in metric.samples]
