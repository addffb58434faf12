"""Every kind of run, its Celery task and queue, its run ids and its spellings — named once.

Standard library only: the operator (whose image carries ``krstock.domain`` and this module, not
the platform's dependencies), the bus, the API, the worker and the CLI all import these names
instead of keeping their own tables. The monolith's spellings (``jongga_v2``, ``vcp_legacy``)
are accepted at the edges through :func:`parse_kind`, the one alias map.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum


class RunKind(StrEnum):
    """A kind of run, as ``scan_runs.kind`` stores it (and ``signals.strategy`` for scans)."""

    COLLECT = "collect"
    MARKET_GATE = "market-gate"
    VCP = "vcp"
    VCP_LEGACY = "vcp-legacy"
    TREND_TEMPLATE = "trend-template"
    CLOSING_BET = "closing-bet"
    ANALYSIS = "ai-analysis"
    TRACK = "track"
    BACKTEST = "backtest"
    PIPELINE = "pipeline"


class Queue(StrEnum):
    """The Celery queues; a worker Deployment serves one or more of them."""

    COLLECT = "collect"
    SCAN = "scan"
    AI = "ai"
    MAINTENANCE = "maintenance"


class Task(StrEnum):
    """Celery task names (the API and the operator's pods send tasks by name)."""

    COLLECT = "krstock.run_collect"
    MARKET_GATE = "krstock.run_market_gate"
    SCAN = "krstock.run_scan"
    TRACK = "krstock.run_track"
    ANALYZE = "krstock.run_analyze"
    BACKTEST = "krstock.run_backtest"
    PIPELINE = "krstock.run_pipeline"
    PIPELINE_STEP_DONE = "krstock.pipeline_step_done"
    PIPELINE_FAILED = "krstock.pipeline_failed"
    SCHEDULED = "krstock.scheduled"
    REFRESH_PRICES = "krstock.refresh_prices"
    DB_MAINTAIN = "krstock.db_maintain"


QUEUES: tuple[Queue, ...] = tuple(Queue)
SCAN_KINDS: tuple[RunKind, ...] = (
    RunKind.VCP,
    RunKind.VCP_LEGACY,
    RunKind.TREND_TEMPLATE,
    RunKind.CLOSING_BET,
)
# The scans the daily pipeline runs unless told otherwise.
DEFAULT_SCANS: tuple[RunKind, ...] = (RunKind.VCP, RunKind.VCP_LEGACY, RunKind.CLOSING_BET)

TASK_OF_KIND: dict[RunKind, Task] = {
    RunKind.COLLECT: Task.COLLECT,
    RunKind.MARKET_GATE: Task.MARKET_GATE,
    **dict.fromkeys(SCAN_KINDS, Task.SCAN),
    RunKind.ANALYSIS: Task.ANALYZE,
    RunKind.TRACK: Task.TRACK,
    RunKind.BACKTEST: Task.BACKTEST,
    RunKind.PIPELINE: Task.PIPELINE,
}

# Routing happens on the sending side: a task sent without its queue lands in Celery's default
# ``celery`` queue, which no krstock worker consumes. The errback ``pipeline_failed`` runs in
# the failing worker and is never routed.
TASK_QUEUES: dict[Task, Queue] = {
    Task.COLLECT: Queue.COLLECT,
    Task.MARKET_GATE: Queue.SCAN,
    Task.SCAN: Queue.SCAN,
    Task.TRACK: Queue.SCAN,
    Task.ANALYZE: Queue.AI,
    Task.BACKTEST: Queue.MAINTENANCE,
    Task.PIPELINE: Queue.MAINTENANCE,
    Task.PIPELINE_STEP_DONE: Queue.MAINTENANCE,
    Task.SCHEDULED: Queue.MAINTENANCE,
    Task.REFRESH_PRICES: Queue.MAINTENANCE,
    Task.DB_MAINTAIN: Queue.MAINTENANCE,
}

# The names the HTTP API uses for each kind (``POST /api/v1/runs {"kind": ...}``).
API_NAMES: dict[RunKind, str] = {
    RunKind.VCP: "vcp",
    RunKind.VCP_LEGACY: "vcp_legacy",
    RunKind.TREND_TEMPLATE: "trend_template",
    RunKind.CLOSING_BET: "closing_bet",
    RunKind.MARKET_GATE: "market_gate",
    RunKind.COLLECT: "collect",
    RunKind.TRACK: "track",
    RunKind.ANALYSIS: "analyze",
    RunKind.PIPELINE: "pipeline",
    RunKind.BACKTEST: "backtest",
}

# Every other spelling a door accepts: the API's names, the monolith's and the short ones the
# CLI and old worker arguments used. The one place they are mapped.
_ALIASES: dict[str, RunKind] = {
    **{name: kind for kind, name in API_NAMES.items()},
    "jongga_v2": RunKind.CLOSING_BET,
    "jongga-v2": RunKind.CLOSING_BET,
    "vcp_signals": RunKind.VCP_LEGACY,
    "gate": RunKind.MARKET_GATE,
    "analysis": RunKind.ANALYSIS,
    "analyze": RunKind.ANALYSIS,
    "daily": RunKind.PIPELINE,
    "daily_pipeline": RunKind.PIPELINE,  # a ScanJob's scanner name
}


def parse_kind(
    text: str | RunKind, allowed: tuple[RunKind, ...] | None = None, *, what: str = "kind"
) -> RunKind:
    """A kind from any accepted spelling (case, ``_``/``-`` and the monolith's names).

    Raises ValueError naming the accepted kinds when ``text`` is none of them (or not in
    ``allowed``); ``what`` names the thing in that message ("scan kind", ...)."""
    choices = allowed or tuple(RunKind)
    if isinstance(text, RunKind):
        kind: RunKind | None = text
    else:
        key = str(text).strip().lower()
        kind = _ALIASES.get(key) or _ALIASES.get(key.replace("-", "_"))
        if kind is None:
            try:
                kind = RunKind(key.replace("_", "-"))
            except ValueError:
                kind = None
    if kind is None or kind not in choices:
        raise ValueError(f"unknown {what} {text!r}; use one of {', '.join(choices)}")
    return kind


def spellings(kind: RunKind) -> tuple[str, ...]:
    """Every name ``kind`` may be stored under (rows written before names were unified)."""
    names = {kind.value, kind.value.replace("-", "_")}
    names.update(alias for alias, target in _ALIASES.items() if target is kind)
    return tuple(sorted(names))


def task_for(kind: RunKind) -> Task:
    return TASK_OF_KIND[kind]


def queue_for(task: str) -> Queue:
    """The queue a task name is sent to; ValueError for a name krstock does not know."""
    try:
        return TASK_QUEUES[Task(task)]
    except (KeyError, ValueError):
        known = ", ".join(sorted(TASK_QUEUES))
        raise ValueError(f"unknown krstock task {task!r}; known: {known}") from None


def queues_for(kind: RunKind) -> tuple[Queue, ...]:
    """The queues a run of ``kind`` needs workers on: its task's queue first (where it is
    enqueued), then, for the pipeline, the queues of its steps."""
    first = TASK_QUEUES[task_for(kind)]
    steps = daily_steps() if kind is RunKind.PIPELINE else ()
    rest = [TASK_QUEUES[task_for(step)] for step in steps]
    return tuple(dict.fromkeys([first, *rest]))


# Run ids ----------------------------------------------------------------------------------------
RUN_ID_MAX = 64  # scan_runs.id is VARCHAR(64)


def new_run_id(kind: str, day: date | None = None) -> str:
    """The one run-id format: ``<kind>-<yyyymmdd>-<8 hex>`` (``nodate`` when there is no day)."""
    stamp = day.strftime("%Y%m%d") if day else "nodate"
    return f"{kind}-{stamp}-{uuid.uuid4().hex[:8]}"[:RUN_ID_MAX]


def step_run_id(pipeline_id: str, step: str) -> str:
    """The id of one step of a pipeline run: ``<pipeline id>:<step>`` (stable, so a redelivered
    step finds its earlier run)."""
    return f"{pipeline_id[: RUN_ID_MAX - len(step) - 1]}:{step}"


def daily_steps(
    scans: tuple[RunKind, ...] = DEFAULT_SCANS, *, collect: bool = True
) -> tuple[RunKind, ...]:
    """The daily pipeline in order: collect → market gate → scans → analysis → tracking."""
    head = (RunKind.COLLECT,) if collect else ()
    return (*head, RunKind.MARKET_GATE, *scans, RunKind.ANALYSIS, RunKind.TRACK)
