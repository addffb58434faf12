"""A ScanJob's spec read into typed values, with the CRD's own defaults applied."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from krstock_operator.scanjob_schema import DEFAULT_QUEUE, DEFAULT_QUEUES, SPEC_SCHEMA
from krstock_operator.structural import apply_defaults


@dataclass(frozen=True)
class Workers:
    replicas: int
    min_replicas: int
    max_replicas: int
    concurrency: int
    autoscaling: str
    queue_length_target: int
    target_cpu_percent: int
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanJobSpec:
    scanner: str
    schedule: str | None
    time_zone: str
    suspend: bool
    markets: tuple[str, ...]
    tickers: tuple[str, ...]
    top_by_trading_value: int | None
    policy_name: str | None
    queue: str | None
    parameters: dict[str, str]
    workers: Workers
    starting_deadline_s: int
    run_deadline_s: int
    successful_history: int
    failed_history: int

    @property
    def scheduled(self) -> bool:
        return self.schedule is not None

    @property
    def queues(self) -> tuple[str, ...]:
        """The Celery queues this job's work runs on (one worker Deployment each)."""
        if self.queue:
            return (self.queue,)
        return DEFAULT_QUEUES.get(self.scanner, DEFAULT_QUEUE)

    def run_hash(self) -> str:
        """A short hash of what defines a run (a run-once Job is re-created when it changes)."""
        payload = {
            "scanner": self.scanner,
            "markets": self.markets,
            "tickers": self.tickers,
            "top": self.top_by_trading_value,
            "policy": self.policy_name,
            "queue": self.queue,
            "parameters": self.parameters,
            "deadline": self.run_deadline_s,
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        return digest[:8]


def parse_spec(raw: dict[str, Any]) -> ScanJobSpec:
    """Read a ScanJob spec (defaults from the CRD schema filled in where the server did not)."""
    spec = apply_defaults(SPEC_SCHEMA, dict(raw))
    universe = spec["universe"]
    workers = spec["workers"]
    schedule = spec.get("schedule")
    return ScanJobSpec(
        scanner=spec["scanner"],
        schedule=schedule.strip() if schedule else None,
        time_zone=spec["timeZone"],
        suspend=bool(spec["suspend"]),
        markets=tuple(universe.get("markets", ())),
        tickers=tuple(universe.get("tickers", ())),
        top_by_trading_value=universe.get("topByTradingValue"),
        policy_name=(spec.get("policyRef") or {}).get("name") or None,
        queue=spec.get("queue") or None,
        parameters={str(k): str(v) for k, v in (spec.get("parameters") or {}).items()},
        workers=Workers(
            replicas=int(workers["replicas"]),
            min_replicas=int(workers["minReplicas"]),
            max_replicas=int(workers["maxReplicas"]),
            concurrency=int(workers["concurrency"]),
            autoscaling=workers["autoscaling"],
            queue_length_target=int(workers["queueLengthTarget"]),
            target_cpu_percent=int(workers["targetCPUUtilizationPercentage"]),
            resources=dict(workers.get("resources") or {}),
        ),
        starting_deadline_s=int(spec["startingDeadlineSeconds"]),
        run_deadline_s=int(spec["runDeadlineSeconds"]),
        successful_history=int(spec["successfulJobsHistoryLimit"]),
        failed_history=int(spec["failedJobsHistoryLimit"]),
    )
