"""``krstock import krx-csv DIR`` and ``krstock import legacy DIR``: files into the database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from krstock.errors import UsageError
from krstock.output import emit_json, progress_bar

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from krstock.ingest.report import ImportSummary

log = logging.getLogger("krstock.ingest")

DATABASE_URL_HELP = "PostgreSQL URL (default: KRSTOCK_DATABASE_URL)."
NO_DATABASE = (
    "no database: pass --database-url or set KRSTOCK_DATABASE_URL "
    "(e.g. postgresql://krstock@127.0.0.1:5432/krstock)"
)


def _engine(database_url: str | None, *, required: bool) -> Engine | None:
    from krstock.config import get_settings
    from krstock.db.session import make_engine

    url = database_url or get_settings().database_url
    if not url:
        if required:
            raise UsageError(NO_DATABASE)
        return None
    return make_engine(url, pool_size=1, max_overflow=0)


def _print_summary(summary: ImportSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="import" + (" (dry run: nothing written)" if summary.dry_run else ""))
    table.add_column("file", overflow="fold")  # long history/ names wrap, never truncate
    for column in ("read", "inserted", "updated", "rejected", "in DB"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, result in summary.files.items():
        found = "-" if result.found is None else f"{result.found:,}/{result.keys:,}"
        table.add_row(
            name,
            f"{result.read:,}",
            "-" if result.inserted is None else f"{result.inserted:,}",
            "-" if result.updated is None else f"{result.updated:,}",
            f"{result.rejected:,}",
            found,
        )
    for name, message in summary.failed.items():
        table.add_row(name, "[red]failed[/red]", "", "", "", message[:60])
    typer.echo("")
    Console().print(table)
    report = summary.rejects_report
    typer.echo(f"rejects report: {report}" if report else "no rows rejected (no rejects report)")
    for name in summary.skipped:
        typer.echo(f"not imported (unknown file): {name}")
    for name, rows in getattr(summary, "flagged", {}).items():
        # Kept (they are the user's data) but left out of performance figures unless asked.
        flags = ", ".join(sorted({flag for row in rows for flag in row["flags"]}))
        typer.echo(
            f"flagged in {name}: {len(rows)} rows whose numbers cannot be right ({flags}); "
            "kept, left out of performance figures unless include_flagged=true"
        )


def _finish(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        emit_json(summary.to_dict())
    else:
        _print_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)


def _run_import(
    run: Callable[..., ImportSummary],
    label: str,
    directory: Path,
    database_url: str | None,
    dry_run: bool,
    rejects: Path | None,
    as_json: bool,
) -> None:
    """One import command: a progress bar sized once the files are known, setup problems as exit
    code 2 (an unreachable or unmigrated database goes up to the CLI's one error path: exit 3),
    the summary (exit code 1 when a file failed)."""
    from krstock.ingest.importer import ImportSetupError

    engine = _engine(database_url, required=not dry_run)
    try:
        with progress_bar(label, total=0) as bar:
            summary = run(
                directory,
                engine,
                dry_run=dry_run,
                rejects_path=rejects,
                progress=lambda step: bar.advance(1, description=f"{label}: {step}"),
                on_start=bar.set_total,
            )
    except ImportSetupError as exc:  # a folder it cannot import, an unmigrated database
        raise UsageError(str(exc)) from exc
    finally:
        if engine is not None:
            engine.dispose()
    _finish(summary, as_json)


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Import files: a pykrx CSV folder or the monolith's data/ folder.",
        no_args_is_help=True,
    )

    @group.command("krx-csv")
    def krx_csv(
        directory: Path = typer.Argument(..., help="Folder of <ticker>.csv files (pykrx)."),
        database_url: str | None = typer.Option(None, "--database-url", help=DATABASE_URL_HELP),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Validate and count in a rolled-back transaction."
        ),
        rejects: Path | None = typer.Option(None, "--rejects", help="Rejects CSV path."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Load daily OHLCV from a pykrx CSV folder (one file per ticker)."""
        from krstock.ingest.importer import import_krx_csv

        _run_import(import_krx_csv, "krx-csv", directory, database_url, dry_run, rejects, as_json)

    @group.command("legacy")
    def legacy(
        directory: Path = typer.Argument(..., help="The monolith's data/ folder (or its parent)."),
        database_url: str | None = typer.Option(None, "--database-url", help=DATABASE_URL_HELP),
        dry_run: bool = typer.Option(
            False,
            "--dry-run",
            help="Validate and report without writing (exact counts when a database is given).",
        ),
        rejects: Path | None = typer.Option(None, "--rejects", help="Rejects CSV path."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Import the monolith's CSV/JSON files (stocks, prices, flows, signals, analyses)."""
        from krstock.ingest.importer import import_legacy

        _run_import(import_legacy, "legacy", directory, database_url, dry_run, rejects, as_json)

    app.add_typer(group, name="import")
