"""``krstock bench pipeline``: a full daily run (collect → gate → 3 scans → analysis → tracking)
on the synthetic market, through the Celery canvas (eager, the same task code as the workers),
against the same use cases called directly in a loop (the task layer's overhead as a ratio:
locks, run-state checks, progress publishing, events; in-process Redis unless configured).

On a scratch database (created, migrated and dropped; or ``--database-url``): history is backfilled
first (not timed in the ratio), then for one trading day: direct, pipeline (cold, reported
apart), pipeline, direct again; the baseline is the mean of the two direct runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import typer

from krstock.output import emit_json, stderr_console

SCANS = ("vcp", "vcp-legacy", "closing-bet")
HISTORY_CALENDAR_DAYS = 400


def direct_run(engine: Any, day: date, source_options: dict[str, Any]) -> float:
    """The same steps as the canvas, called in this process without Celery; returns seconds."""
    from krstock.app import runs

    started = time.perf_counter()
    runs.run_collect(engine, start=day, end=day, source="sample", source_options=source_options)
    runs.run_market_gate(engine, day=day)
    for kind in SCANS:
        runs.run_scan(engine, kind=kind, day=day)
    runs.run_analysis(engine, day=day)
    runs.run_track(engine, day=day)
    return time.perf_counter() - started


@contextlib.contextmanager
def _database(database_url: str | None, admin_url: str) -> Iterator[str]:
    if database_url:
        yield database_url
        return
    from krstock.benchmarks.ingest import scratch_database

    with scratch_database(admin_url) as url:
        yield url


def bench_pipeline(
    *, tickers: int, day: date, database_url: str | None, admin_url: str
) -> dict[str, Any]:
    from krstock.app import runs
    from krstock.config import Settings
    from krstock.db.session import make_engine
    from krstock.domain.calendar import KrxCalendar
    from krstock.worker.context import WorkerContext, set_context
    from krstock.worker.rundaily import run_daily_in_process

    if not KrxCalendar().is_trading_day(day):
        raise ValueError(f"{day} is not a KRX trading day")
    options = {"n_tickers": tickers}
    with _database(database_url, admin_url) as url:
        settings = Settings(database_url=url, redis_url=None)
        engine = make_engine(url, settings)
        started = time.perf_counter()
        runs.run_collect(
            engine,
            start=day - timedelta(days=HISTORY_CALENDAR_DAYS),
            end=day - timedelta(days=1),
            source="sample",
            source_options=options,
        )
        backfill_s = time.perf_counter() - started
        first_direct = direct_run(engine, day, options)
        context = WorkerContext(settings)
        try:
            # The first canvas run pays one-time imports; the second is the figure.
            cold = run_daily_in_process(
                day, source="sample", source_options=options, context=context
            )
            outcome = run_daily_in_process(
                day, source="sample", source_options=options, context=context
            )
        finally:
            set_context(None)
        second_direct = direct_run(engine, day, options)
        engine.dispose()
    if outcome.get("status") != "SUCCEEDED":
        raise RuntimeError(f"the pipeline did not succeed: {outcome}")
    direct_s = (first_direct + second_direct) / 2
    pipeline_s = float(outcome["duration_s"])
    return {
        "benchmark": "pipeline",
        "source": "sample",
        "tickers": tickers,
        "day": day.isoformat(),
        "steps": ["collect", "market-gate", *SCANS, "analysis", "track"],
        "backfill_s": round(backfill_s, 3),
        "pipeline_s": round(pipeline_s, 3),
        "pipeline_cold_s": cold.get("duration_s"),
        "direct_s": round(direct_s, 3),
        "direct_runs_s": [round(first_direct, 3), round(second_direct, 3)],
        "overhead_ratio": round(pipeline_s / direct_s, 3) if direct_s else None,
        "redis": outcome.get("redis"),
        "pipeline_status": outcome.get("status"),
        "step_status": {k: v.get("status") for k, v in outcome.get("steps", {}).items()},
    }


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("pipeline")
    def pipeline(
        tickers: int = typer.Option(2500, min=60, help="Synthetic market size."),
        day: str = typer.Option("2026-11-20", help="Trading day to run (in the sample range)."),
        database_url: str = typer.Option(None, help="Use this database instead of a scratch one."),
        admin_url: str = typer.Option(
            "postgresql://postgres@127.0.0.1:5432/postgres",
            envvar="KRSTOCK_TEST_ADMIN_URL",
            help="Superuser URL to create the scratch database.",
        ),
        json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """A full daily run's duration on the synthetic market (canvas vs direct calls)."""
        try:
            result = bench_pipeline(
                tickers=tickers,
                day=date.fromisoformat(day),
                database_url=database_url,
                admin_url=admin_url,
            )
        except ValueError as exc:
            stderr_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        if json_out:
            emit_json(result)
        else:
            stderr_console.print(result)
