"""The one entrance to every run: a typed :class:`RunRequest` goes in, a summary comes out.

The CLI, the Celery tasks and the API's run dispatch all build a ``RunRequest`` and call
:func:`run` (or :func:`run_pipeline` for the whole day in this process); the dispatch below is a
plain ``match`` on :class:`~krstock.app.kinds.RunKind`, so "go to definition" follows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine

from krstock.app.analysis import run_analysis
from krstock.app.backtests import run_backtest
from krstock.app.catalogue import BACKTEST_KINDS
from krstock.app.collect import run_collect
from krstock.app.gate import run_market_gate
from krstock.app.kinds import (
    DEFAULT_SCANS,
    SCAN_KINDS,
    RunKind,
    daily_steps,
    new_run_id,
    parse_kind,
    step_run_id,
)
from krstock.app.recorder import ProgressFn, record_run
from krstock.app.scans import run_scan
from krstock.app.tracking import run_track


def _names(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    """A list as the API sends it (a list) or as the CLI and ``--param`` do ("a,b")."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    names = tuple(str(v).strip() for v in items if str(v).strip())
    return names or None


def _day(value: date | str | None, what: str) -> date | None:
    if isinstance(value, date):
        return value
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _list(names: tuple[str, ...] | None) -> list[str] | None:
    return list(names) if names else None


def _strategy(name: str | RunKind) -> RunKind:
    return parse_kind(name, BACKTEST_KINDS, what="backtest strategy")


@dataclass(frozen=True)
class Universe:
    """The tickers a scan looks at (a ScanJob's ``universe``); empty: the whole market."""

    markets: tuple[str, ...] | None = None
    tickers: tuple[str, ...] | None = None
    top_n: int | None = None

    @classmethod
    def of(
        cls,
        markets: Sequence[str] | str | None = None,
        tickers: Sequence[str] | str | None = None,
        top_n: int | str | None = None,
    ) -> Universe:
        n = int(top_n) if top_n not in (None, "") else None
        if n is not None and n < 1:
            raise ValueError(f"top_n must be at least 1, got {n}")
        return cls(_names(markets), _names(tickers), n)


@dataclass(frozen=True)
class RunRequest:
    """What to run. ``day`` is the trading day (the end of the range for collect/backtest);
    ``policy`` a preset name or a policy file path (None: the monolith preset)."""

    kind: RunKind
    day: date | None = None
    policy: str | None = None
    universe: Universe = field(default_factory=Universe)
    run_id: str | None = None
    scanjob: str | None = None
    # collect and backtest: the range (start defaults to ``day``)
    start: date | None = None
    # backtest: which strategy is replayed
    strategy: RunKind | None = None
    # collect and pipeline: where the data comes from
    source: str | None = None
    source_options: Mapping[str, Any] | None = None
    # pipeline
    scans: tuple[RunKind, ...] = DEFAULT_SCANS
    collect_days: int = 1
    force: bool = False

    @classmethod
    def parse(cls, kind: str | RunKind, **params: Any) -> RunRequest:
        """A request from loosely typed values (JSON, Celery kwargs, CLI options), with one
        clear ValueError for anything that does not fit."""
        the_kind = parse_kind(kind)
        accepted = COMMON_PARAMS | EXTRA_PARAMS[the_kind]
        unknown = sorted(k for k, v in params.items() if k not in accepted and v is not None)
        if unknown:
            raise ValueError(
                f"a {the_kind} run does not take {', '.join(unknown)}; "
                f"it takes {', '.join(sorted(accepted))}"
            )
        strategy = params.get("strategy")
        scans = tuple(
            parse_kind(s, SCAN_KINDS, what="scan kind") for s in _names(params.get("scans")) or ()
        )
        return cls(
            kind=the_kind,
            day=_day(params.get("day") or params.get("end"), "day"),
            policy=params.get("policy") or None,
            universe=Universe.of(params.get("markets"), params.get("tickers"), params.get("top_n")),
            run_id=params.get("run_id") or None,
            scanjob=params.get("scanjob") or None,
            start=_day(params.get("start"), "start"),
            strategy=_strategy(strategy) if strategy else None,
            source=params.get("source") or None,
            source_options=params.get("source_options") or None,
            scans=scans or DEFAULT_SCANS,
            collect_days=int(params.get("collect_days") or 1),
            force=bool(params.get("force", False)),
        )

    def required_day(self) -> date:
        if self.day is None:
            raise ValueError(f"a {self.kind} run needs a day (YYYY-MM-DD)")
        return self.day

    def task_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of this request's Celery task (JSON values, Nones left out)."""
        u = self.universe
        day = self.day.isoformat() if self.day else None
        start = self.start.isoformat() if self.start else None
        values: dict[str, Any] = {"run_id": self.run_id}
        match self.kind:
            case RunKind.VCP | RunKind.VCP_LEGACY | RunKind.TREND_TEMPLATE | RunKind.CLOSING_BET:
                values.update(kind=str(self.kind), day=day, policy=self.policy)
                values.update(markets=_list(u.markets), tickers=_list(u.tickers), top_n=u.top_n)
            case RunKind.MARKET_GATE | RunKind.TRACK:
                values.update(day=day, policy=self.policy)
            case RunKind.ANALYSIS:
                values.update(day=day, force=self.force or None)
            case RunKind.COLLECT:
                values.update(start=start or day, end=day, source=self.source)
                values.update(tickers=_list(u.tickers), source_options=self.source_options)
            case RunKind.BACKTEST:
                strategy = str(self.strategy) if self.strategy else None
                values.update(strategy=strategy, start=start, end=day, policy=self.policy)
            case RunKind.PIPELINE:
                values.update(day=day, source=self.source, scans=[str(s) for s in self.scans])
                values.update(collect_days=self.collect_days, force=self.force or None)
                values.update(source_options=self.source_options)
        return {k: v for k, v in values.items() if v is not None}

    def with_run_id(self) -> RunRequest:
        """This request with its run id filled in (the one format, from kind and day)."""
        return self if self.run_id else replace(self, run_id=new_run_id(self.kind, self.day))


# What every request takes, then what each kind adds (``end`` is the day of a range).
COMMON_PARAMS = frozenset({"day", "policy", "run_id", "scanjob"})
_UNIVERSE = frozenset({"markets", "tickers", "top_n"})
EXTRA_PARAMS: dict[RunKind, frozenset[str]] = {
    **dict.fromkeys(SCAN_KINDS, _UNIVERSE),
    RunKind.MARKET_GATE: frozenset(),
    RunKind.TRACK: frozenset(),
    RunKind.ANALYSIS: frozenset({"force"}),  # force: ask the LLM again (no cache)
    RunKind.COLLECT: frozenset({"start", "end", "source", "tickers", "source_options"}),
    RunKind.BACKTEST: frozenset({"strategy", "start", "end"}),
    RunKind.PIPELINE: frozenset({"source", "scans", "collect_days", "source_options", "force"}),
}


def extra_params(kind: RunKind) -> frozenset[str]:
    """The parameters ``kind`` takes beyond day, policy, run id and ScanJob."""
    return EXTRA_PARAMS[kind]


def run(engine: Engine, request: RunRequest, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Run ``request`` to the end in this process; its ``scan_runs`` row records the outcome."""
    common: dict[str, Any] = {
        "run_id": request.run_id,
        "progress": progress,
        "scanjob": request.scanjob,
    }
    match request.kind:
        case RunKind.COLLECT:
            end = request.required_day()
            return run_collect(
                engine,
                start=request.start or end,
                end=end,
                source=request.source or "sample",
                tickers=list(request.universe.tickers) if request.universe.tickers else None,
                source_options=dict(request.source_options or {}),
                **common,
            )
        case RunKind.MARKET_GATE:
            return run_market_gate(
                engine, day=request.required_day(), policy=request.policy, **common
            )
        case RunKind.VCP | RunKind.VCP_LEGACY | RunKind.TREND_TEMPLATE | RunKind.CLOSING_BET:
            u = request.universe
            return run_scan(
                engine,
                kind=request.kind,
                day=request.required_day(),
                policy=request.policy,
                markets=u.markets,
                tickers=u.tickers,
                top_n=u.top_n,
                **common,
            )
        case RunKind.ANALYSIS:
            return run_analysis(engine, day=request.required_day(), refresh=request.force, **common)
        case RunKind.TRACK:
            return run_track(engine, day=request.required_day(), policy=request.policy, **common)
        case RunKind.BACKTEST:
            if request.strategy is None:
                raise ValueError("a backtest needs a strategy")
            end = request.required_day()
            if request.start is None:
                raise ValueError("a backtest needs a start date")
            return run_backtest(
                engine,
                strategy=request.strategy,
                start=request.start,
                end=end,
                policy=request.policy,
                **common,
            )
        case RunKind.PIPELINE:
            return run_pipeline(engine, request)
    raise ValueError(f"no use case runs {request.kind!r}")  # pragma: no cover - exhaustive


def collect_start(day: date, collect_days: int) -> date:
    """The first day a pipeline collects: ``collect_days`` calendar days up to ``day``."""
    return day - timedelta(days=collect_days - 1)


def run_pipeline(engine: Engine, request: RunRequest) -> dict[str, Any]:
    """The daily pipeline in this process, step after step (market gate → scans → analysis →
    tracking; collection only with a ``source``), stopping at the first failure. The pipeline's
    own row tracks the steps; each step records its own run as ``<pipeline id>:<step>``."""
    day = request.required_day()
    pipeline_id = request.run_id or new_run_id(RunKind.PIPELINE, day)
    steps = daily_steps(request.scans, collect=request.source is not None)
    pipeline = RunKind.PIPELINE
    record_run(engine, pipeline_id, kind=pipeline, status="RUNNING", day=day, progress=0.0)
    outcome: dict[str, str] = {}
    for i, step in enumerate(steps):
        step_request = replace(
            request,
            kind=step,
            run_id=step_run_id(pipeline_id, step),
            start=day - timedelta(days=request.collect_days - 1)
            if step is RunKind.COLLECT
            else None,
        )
        try:
            run(engine, step_request)
        except Exception as exc:
            outcome[step] = f"FAILED: {type(exc).__name__}"
            error = f"{step}: {type(exc).__name__}: {exc}"[:2000]
            record_run(
                engine, pipeline_id, kind=pipeline, status="FAILED", counts=outcome, error=error
            )
            return {"run_id": pipeline_id, "status": "FAILED", "steps": outcome, "error": error}
        outcome[step] = "SUCCEEDED"
        percent = round((i + 1) / len(steps) * 100, 1)
        record_run(
            engine, pipeline_id, kind=pipeline, status="RUNNING", progress=percent, counts=outcome
        )
    record_run(
        engine, pipeline_id, kind=pipeline, status="SUCCEEDED", progress=100.0, counts=outcome
    )
    return {"run_id": pipeline_id, "status": "SUCCEEDED", "steps": outcome}


__all__ = [
    "EXTRA_PARAMS",
    "RunKind",
    "RunRequest",
    "Universe",
    "extra_params",
    "run",
    "run_pipeline",
]
