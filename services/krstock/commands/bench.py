"""``krstock bench ingest|scan|pipeline|api``: each subcommand lives in ``krstock.benchmarks``."""

from __future__ import annotations

import importlib

import typer

BENCHMARKS = ("ingest", "scan", "scan_db", "pipeline", "api")


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="Benchmarks that print figures (ratios against a same-run baseline).")
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(f"krstock.benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"krstock.benchmarks.{name}":
                raise
            continue
        module.register(bench)
    app.add_typer(bench, name="bench")
