"""One level-triggered reconcile of a ScanJob: desired children, convergence, status, events.

Every trigger (create, update, resume, the periodic resync, a SignalPolicy change) calls
``reconcile``; it never raises for problems a user or the platform can fix (a missing policy, the
API down, a rejected child): those become conditions and one event per transition, and the next
resync tries again, so there is no crash loop and no retry storm.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from krstock_operator import cron, metrics
from krstock_operator.config import OperatorSettings
from krstock_operator.converge import Outcome, converge
from krstock_operator.kube import CHILD_KINDS, Kube
from krstock_operator.manifests import ClusterContext, Owner, desired_children, run_job_name
from krstock_operator.policy import PolicyProblem, resolve
from krstock_operator.runs import RunRecord, RunsClient, RunsUnavailable
from krstock_operator.spec import ScanJobSpec, parse_spec
from krstock_operator.status import (
    Condition,
    condition_transitions,
    phase_for,
    render_conditions,
)

# Reasons that deserve a Warning event when a condition turns to them.
_GOOD_REASONS = {"Reconciled", "CronJobActive", "RunOnce", "AsExpected", "Suspended", "Blocked"}


@dataclass
class Result:
    status: dict[str, Any]
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    outcome: Outcome | None = None


def owner_of(body: dict[str, Any]) -> Owner:
    meta = body["metadata"]
    return Owner(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"])


async def _existing(kube: Kube, owner: Owner, keda: bool) -> dict[str, list[dict[str, Any]]]:
    kinds = [k for k in CHILD_KINDS if keda or k != "ScaledObject"]
    return {kind: await kube.list_owned(kind, owner) for kind in kinds}


def _run_once_done(
    spec: ScanJobSpec, owner: Owner, previous: dict[str, Any], existing: dict[str, list[Any]]
) -> bool:
    if spec.scheduled:
        return False
    recorded = (previous.get("runOnce") or {}).get("hash") == spec.run_hash()
    job_alive = any(j["metadata"]["name"] == run_job_name(owner, spec) for j in existing["Job"])
    return recorded and not job_alive


def _next_run(spec: ScanJobSpec, now: dt.datetime) -> str | None:
    if not spec.scheduled or spec.suspend:
        return None
    assert spec.schedule is not None
    try:
        when = cron.next_run(spec.schedule, spec.time_zone, now)
    except (cron.CronError, KeyError, ValueError):
        return None
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


async def reconcile(
    body: dict[str, Any],
    *,
    kube: Kube,
    runs: RunsClient,
    settings: OperatorSettings,
    policies: dict[tuple[str, str], dict[str, Any]],
    now: dt.datetime | None = None,
) -> Result:
    """Converge one ScanJob's children and compute its status (see the module docstring)."""
    started = time.monotonic()
    now = now or dt.datetime.now(dt.UTC)
    owner = owner_of(body)
    previous: dict[str, Any] = dict(body.get("status") or {})
    generation = body["metadata"].get("generation")
    spec = parse_spec(dict(body.get("spec") or {}))
    conditions: list[Condition] = []
    outcome: Outcome | None = None
    blocked = False
    status: dict[str, Any] = {"observedGeneration": generation}

    try:
        policy = resolve(owner.namespace, spec.policy_name, policies)
    except PolicyProblem as problem:
        metrics.ERRORS.labels(kind="policy").inc()
        blocked = True
        # Leave the children as they are: a run with the wrong thresholds is worse than no run.
        conditions.append(Condition("Ready", False, problem.reason, problem.message))
        policy = None

    keda = False
    if not blocked:
        try:
            keda = await kube.keda_available()
            existing = await _existing(kube, owner, keda)
            ctx = ClusterContext(
                settings=settings,
                keda_available=keda,
                policy=policy,
                run_once_done=_run_once_done(spec, owner, previous, existing),
            )
            outcome = await converge(kube, owner, desired_children(owner, spec, ctx), existing)
        except ApiException as exc:
            metrics.ERRORS.labels(kind="api").inc()
            message = f"Kubernetes API error while reading children: {exc.status} {exc.reason}"
            conditions.append(Condition("Ready", False, "ReconcileFailed", message))
        else:
            if outcome.errors:
                metrics.ERRORS.labels(kind="child").inc(len(outcome.errors))
                conditions.append(
                    Condition("Ready", False, "ChildRejected", "; ".join(outcome.errors)[:1000])
                )
            else:
                conditions.append(
                    Condition(
                        "Ready", True, "Reconciled", f"{len(outcome.children)} children in sync"
                    )
                )
            status["children"] = outcome.children
            if not spec.scheduled:
                job = run_job_name(owner, spec)
                status["runOnce"] = {"hash": spec.run_hash(), "job": job}

    if spec.scheduled:
        if spec.suspend:
            conditions.append(Condition("Scheduled", False, "Suspended", "spec.suspend is true"))
        elif blocked:
            conditions.append(Condition("Scheduled", False, "Blocked", "see the Ready condition"))
        else:
            conditions.append(
                Condition(
                    "Scheduled",
                    True,
                    "CronJobActive",
                    f"'{spec.schedule}' in {spec.time_zone} (CronJob {owner.name})",
                )
            )
    else:
        conditions.append(
            Condition("Scheduled", False, "RunOnce", "no schedule: a Job enqueues one run")
        )

    last_run: RunRecord | None = None
    degraded: list[tuple[str, str]] = []
    try:
        last_run = await runs.latest_run(owner.namespace, owner.name)
        if last_run is not None:
            status["lastRun"] = last_run.as_status()
    except RunsUnavailable as exc:
        metrics.ERRORS.labels(kind="runs").inc()
        degraded.append(("ApiUnreachable", f"run records unavailable: {exc}"))
        if previous.get("lastRun"):
            status["lastRun"] = previous["lastRun"]
            prev = previous["lastRun"]
            last_run = RunRecord(
                id=str(prev.get("id")),
                state=str(prev.get("state")),
                started_at=prev.get("startedAt"),
                finished_at=prev.get("finishedAt"),
                signals=prev.get("signals"),
            )
    if last_run is not None and last_run.state == "FAILED" and not degraded:
        degraded.append(("LastRunFailed", f"run {last_run.id} failed"))
    if spec.workers.autoscaling == "keda" and not keda and not blocked:
        degraded.append(("KedaUnavailable", "KEDA is not installed: fixed replicas instead"))
    if degraded:
        reason = degraded[0][0]
        conditions.append(Condition("Degraded", True, reason, "; ".join(m for _, m in degraded)))
    else:
        conditions.append(Condition("Degraded", False, "AsExpected", "runs and API healthy"))

    status["phase"] = phase_for(
        blocked=blocked, scheduled=spec.scheduled, suspended=spec.suspend, last_run=last_run
    )
    status["nextRunAt"] = None if blocked else _next_run(spec, now)
    status["conditions"] = render_conditions(
        conditions, previous.get("conditions"), generation, now
    )
    events = []
    for changed in condition_transitions(previous.get("conditions"), status["conditions"]):
        bad = (changed["type"] == "Degraded") == (changed["status"] == "True")
        if bad and changed["reason"] not in _GOOD_REASONS:
            events.append(("Warning", changed["reason"], changed["message"]))
        elif previous.get("conditions") and changed["type"] in ("Ready", "Degraded"):
            events.append(("Normal", changed["reason"], changed["message"]))
    metrics.DURATION.observe(time.monotonic() - started)
    return Result(status=status, events=events, outcome=outcome)
