"""``krstock bench ingest|scan|scan-db|pipeline|api|vcp``: each subcommand lives in
``krstock.benchmarks`` (modules that import their heavy dependencies only when they run)."""

from __future__ import annotations

import typer

from krstock.benchmarks import api, ingest, pipeline, scan, scan_db, vcp_real


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="Benchmarks that print figures (ratios against a same-run baseline).")
    for module in (ingest, scan, scan_db, pipeline, api, vcp_real):
        module.register(bench)
    app.add_typer(bench, name="bench")
