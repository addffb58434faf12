"""The ScanJob custom resource: its OpenAPI schema (with defaults and CEL rules) and vocabularies.

This module is the source of ``crds/scanjob.yaml`` (written by ``crdgen``) and of the defaults the
operator applies when it reads a ScanJob, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from krstock.app.kinds import API_NAMES, parse_kind, queues_for
from krstock.app.kinds import QUEUES as KIND_QUEUES
from krstock_operator.cron import CRON_REGEX

SCANNERS = (
    "vcp",
    "vcp-legacy",
    "trend-template",
    "closing-bet",
    "market-gate",
    "collect",
    "daily-pipeline",
    "backtest",
)
MARKETS = ("KOSPI", "KOSDAQ", "KONEX")
AUTOSCALING_MODES = ("auto", "keda", "hpa", "none")
# Where each scanner's work runs and what the API calls it come from the platform's run
# catalogue (standard library only; the operator image carries it next to krstock.domain).
_KINDS = {scanner: parse_kind(scanner) for scanner in SCANNERS}
# The Celery queues a scanner's work runs on when `spec.queue` does not pin one; the first queue
# is where the enqueued task goes (the pipeline's steps run on their own queues).
DEFAULT_QUEUES: dict[str, tuple[str, ...]] = {
    scanner: tuple(str(q) for q in queues_for(kind)) for scanner, kind in _KINDS.items()
}
DEFAULT_QUEUE = ("scan",)
# The API's run kind for each scanner (POST /api/v1/runs {"kind": ...}).
RUN_KINDS: dict[str, str] = {scanner: API_NAMES[kind] for scanner, kind in _KINDS.items()}
# The platform's Celery queues; tasks are routed by name.
QUEUES: tuple[str, ...] = tuple(str(q) for q in KIND_QUEUES)
TICKER_REGEX = "^[0-9A-Z]{6}$"
MAX_NAME = 40
# A run's policy is the path /etc/krstock/sp/<name>.json, which the API keeps in 64 characters.
MAX_POLICY_NAME = 43
QUANTITY_REGEX = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)  # CronJob names (52) and worker Deployment names derive from the ScanJob's


def _cel(rule: str, message: str) -> dict[str, str]:
    return {"rule": rule, "message": message}


# Parameters that are dates (the run's day, a backtest's or a collection's range), checked at
# admission: a calendar date YYYY-MM-DD (February up to the 29th; the task refuses a 29th that
# its year lacks), and start no later than end.
DATE_PARAMETERS = ("day", "start", "end")
DATE_REGEX = (
    "^[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])"
    "|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-9]))$"
)
DATE_PARAMETER_RULES = [
    *(
        _cel(
            f"!('{name}' in self) || self['{name}'].matches('{DATE_REGEX}')",
            f"parameters.{name} must be a date YYYY-MM-DD such as 2025-01-02",
        )
        for name in DATE_PARAMETERS
    ),
    _cel(
        "!('start' in self && 'end' in self) || self['start'] <= self['end']",
        "parameters.start must not be after parameters.end",
    ),
]


def backtest_rules(strategies: tuple[str, ...], canonical: tuple[str, ...]) -> list[dict[str, str]]:
    """The spec's rules for backtest parameters, given every spelling of a backtestable
    strategy and their canonical names (from the platform's run catalogue, which crdgen reads
    when it writes the CRD)."""
    names = ", ".join(canonical) + " (or their monolith spellings, e.g. jongga_v2)"
    return [
        _cel(
            "!has(self.parameters) || !('strategy' in self.parameters) "
            f"|| self.parameters['strategy'] in {_quoted(strategies)}",
            f"parameters.strategy must be a backtestable strategy: {names}",
        ),
        _cel(
            "self.scanner != 'backtest' || (has(self.parameters) "
            "&& 'strategy' in self.parameters && 'start' in self.parameters)",
            "a backtest ScanJob needs parameters.strategy and parameters.start "
            "(end defaults to the run's day)",
        ),
        _cel(
            "self.scanner == 'backtest' || !has(self.parameters) "
            "|| !('strategy' in self.parameters)",
            "parameters.strategy applies only to scanner: backtest",
        ),
    ]


def _quoted(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _count(description: str, minimum: int, default: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "integer",
        "format": "int32",
        "description": description,
        "x-kubernetes-validations": [
            _cel(f"self >= {minimum}", f"must be at least {minimum}"),
            _cel("self <= 1000000", "must be at most 1000000"),
        ],
    }
    if default is not None:
        schema["default"] = default
    return schema


def _quantities() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "resource name (cpu, memory) to quantity",
        "maxProperties": 8,
        "additionalProperties": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY_REGEX,
        },
    }


SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["scanner"],
    "properties": {
        "scanner": {
            "type": "string",
            "maxLength": 32,
            "description": "what runs: " + ", ".join(SCANNERS),
            "x-kubernetes-validations": [
                _cel(
                    f"self in {_quoted(SCANNERS)}",
                    "scanner must be one of " + ", ".join(SCANNERS),
                )
            ],
        },
        "schedule": {
            "type": "string",
            "maxLength": 128,
            "description": "five-field cron (minute hour day month weekday) in timeZone; "
            "absent means run once",
            "x-kubernetes-validations": [
                _cel(
                    f"self.matches(r'{CRON_REGEX}')",
                    "schedule must be a five-field cron expression "
                    "(minute hour day-of-month month day-of-week), e.g. '10 16 * * 1-5'",
                )
            ],
        },
        "timeZone": {
            "type": "string",
            "maxLength": 64,
            "default": "Asia/Seoul",
            "description": "IANA time zone of the schedule",
            "x-kubernetes-validations": [
                _cel("size(self) > 0", "timeZone must not be empty (e.g. Asia/Seoul)"),
                _cel(
                    "self.matches('^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$')",
                    "timeZone must be an IANA name such as Asia/Seoul or UTC",
                ),
            ],
        },
        "suspend": {
            "type": "boolean",
            "default": False,
            "description": "stop starting new runs (workers keep draining their queue)",
        },
        "universe": {
            "type": "object",
            "default": {},
            "description": "which tickers the scan covers",
            "properties": {
                "markets": {
                    "type": "array",
                    "maxItems": 3,
                    "default": ["KOSPI", "KOSDAQ"],
                    "items": {"type": "string", "maxLength": 8},
                    "description": "markets: " + ", ".join(MARKETS),
                    "x-kubernetes-validations": [
                        _cel(
                            f"self.all(m, m in {_quoted(MARKETS)})",
                            "markets must be among " + ", ".join(MARKETS),
                        )
                    ],
                },
                "tickers": {
                    "type": "array",
                    "maxItems": 400,  # a run's params stay under the API's 4,000 characters
                    "items": {"type": "string", "maxLength": 6},
                    "description": "explicit 6-character KRX tickers (e.g. 005930)",
                    "x-kubernetes-validations": [
                        _cel(
                            f"self.all(t, t.matches('{TICKER_REGEX}'))",
                            "tickers must be 6-character KRX codes such as 005930",
                        )
                    ],
                },
                "topByTradingValue": {
                    "type": "integer",
                    "format": "int32",
                    "description": "keep the N most traded tickers (by KRW trading value)",
                    "x-kubernetes-validations": [
                        _cel(
                            "self >= 1 && self <= 5000",
                            "topByTradingValue must be between 1 and 5000",
                        )
                    ],
                },
            },
            "x-kubernetes-validations": [
                _cel(
                    "size(self.markets) > 0 || (has(self.tickers) && size(self.tickers) > 0)",
                    "universe needs at least one market or one ticker",
                )
            ],
        },
        "policyRef": {
            "type": "object",
            "description": "the SignalPolicy (same namespace) whose thresholds the run uses; "
            "absent means the built-in defaults",
            "required": ["name"],
            "properties": {
                "name": {
                    "type": "string",
                    "maxLength": 253,
                    "x-kubernetes-validations": [
                        _cel("size(self) > 0", "policyRef.name must not be empty"),
                        _cel(
                            f"size(self) <= {MAX_POLICY_NAME}",
                            f"SignalPolicy names are limited to {MAX_POLICY_NAME} characters",
                        ),
                    ],
                }
            },
        },
        "queue": {
            "type": "string",
            "maxLength": 20,
            "description": "run workers for this one queue only; default: the queues the "
            "scanner's tasks use (collect: collect; daily-pipeline: maintenance, collect, scan, "
            "ai; backtest: maintenance; others: scan)",
            "x-kubernetes-validations": [
                _cel(f"self in {_quoted(QUEUES)}", "queue must be one of " + ", ".join(QUEUES))
            ],
        },
        "parameters": {
            "type": "object",
            "description": "extra task parameters (a backtest's strategy, start and end), "
            "passed as --param; dates are YYYY-MM-DD",
            "maxProperties": 32,
            "additionalProperties": {"type": "string", "maxLength": 256},
            "x-kubernetes-validations": DATE_PARAMETER_RULES,
        },
        "workers": {
            "type": "object",
            "default": {},
            "description": "the worker Deployment(s) that consume this job's queue(s)",
            "properties": {
                "replicas": _count("fixed replica count (autoscaling none)", 0, 1),
                "minReplicas": _count("autoscaling lower bound (KEDA may scale to 0)", 0, 0),
                "maxReplicas": _count("autoscaling upper bound", 1, 4),
                "concurrency": _count("Celery processes per worker", 1, 2),
                "autoscaling": {
                    "type": "string",
                    "maxLength": 8,
                    "default": "auto",
                    "description": "auto (KEDA when installed, else fixed), keda, hpa (CPU), none",
                    "x-kubernetes-validations": [
                        _cel(
                            f"self in {_quoted(AUTOSCALING_MODES)}",
                            "autoscaling must be one of " + ", ".join(AUTOSCALING_MODES),
                        )
                    ],
                },
                "queueLengthTarget": _count("KEDA: queued tasks per worker replica", 1, 5),
                "targetCPUUtilizationPercentage": {
                    "type": "integer",
                    "format": "int32",
                    "default": 80,
                    "description": "HPA: average CPU utilization target (percent)",
                    "x-kubernetes-validations": [
                        _cel(
                            "self >= 1 && self <= 100",
                            "targetCPUUtilizationPercentage must be a percentage in 1-100",
                        )
                    ],
                },
                "resources": {
                    "type": "object",
                    "description": "container resources of each worker",
                    "properties": {"requests": _quantities(), "limits": _quantities()},
                },
            },
            "x-kubernetes-validations": [
                _cel(
                    "self.minReplicas <= self.maxReplicas",
                    "workers.minReplicas must not exceed workers.maxReplicas",
                )
            ],
        },
        "startingDeadlineSeconds": _count(
            "a scheduled run that cannot start within this many seconds is skipped", 10, 600
        ),
        "runDeadlineSeconds": _count("time limit of one run (task_time_limit)", 60, 3600),
        "successfulJobsHistoryLimit": _count("finished enqueue Jobs kept", 0, 3),
        "failedJobsHistoryLimit": _count("failed enqueue Jobs kept", 0, 1),
    },
}

_CONDITION = {
    "type": "object",
    "required": ["type", "status"],
    "properties": {
        "type": {"type": "string"},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
        "observedGeneration": {"type": "integer", "format": "int64"},
    },
}

STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "phase": {
            "type": "string",
            "description": "Pending, Scheduled, Running, Succeeded, Failed, Suspended or Blocked",
        },
        "observedGeneration": {"type": "integer", "format": "int64"},
        "conditions": {
            "type": "array",
            "description": "Ready, Scheduled, Degraded (metav1.Condition)",
            "items": _CONDITION,
        },
        "lastRun": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "state": {"type": "string"},
                "startedAt": {"type": "string", "format": "date-time"},
                "finishedAt": {"type": "string", "format": "date-time"},
                "signals": {"type": "integer"},
            },
        },
        "nextRunAt": {"type": "string", "format": "date-time"},
        "children": {
            "type": "array",
            "description": "Kind/name of every object the operator manages for this ScanJob",
            "items": {"type": "string"},
        },
        "runOnce": {
            "type": "object",
            "description": "the spec hash a run-once Job was created for (never re-created)",
            "properties": {"hash": {"type": "string"}, "job": {"type": "string"}},
        },
    },
}

SCANJOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": SPEC_SCHEMA,
        "status": STATUS_SCHEMA,
    },
    "x-kubernetes-validations": [
        _cel(
            f"size(self.metadata.name) <= {MAX_NAME}",
            f"ScanJob names are limited to {MAX_NAME} characters "
            "(CronJob and worker names derive from them)",
        )
    ],
}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Scanner", "type": "string", "jsonPath": ".spec.scanner"},
    {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Last Run", "type": "date", "jsonPath": ".status.lastRun.finishedAt"},
    {"name": "Signals", "type": "integer", "jsonPath": ".status.lastRun.signals"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
