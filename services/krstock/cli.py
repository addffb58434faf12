"""The ``krstock`` command. Each command group lives in ``krstock.commands.<group>``.

Starting must stay quick (``krstock --help``, probes, CronJobs): the command modules import typer,
rich and the standard library at the top, and pandas, SQLAlchemy, Celery, FastAPI ... inside the
commands that use them (``tests/unit/test_cli_light.py`` checks).
"""

from __future__ import annotations

import typer

from krstock import __version__
from krstock.commands import apikey, bench, collect, db, demo, ingest, pipeline, scan, serve

app = typer.Typer(
    name="krstock",
    help="Korean stock signal platform: data, scans, tracking, services.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    log_level: str = typer.Option(None, help="Override KRSTOCK_LOG_LEVEL."),
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the krstock version and exit.",
    ),
) -> None:
    from krstock.config import SettingsError, get_settings
    from krstock.logging_setup import configure_logging

    # Each invocation reads the environment as it is now (in-process runs in tests too).
    get_settings.cache_clear()
    try:
        settings = get_settings()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(log_level or settings.log_level, settings.log_format)


@app.command()
def version() -> None:
    """Print the krstock version."""
    typer.echo(__version__)


# Registration order is the order of `krstock --help`.
for _module in (db, ingest, collect, scan, demo, pipeline, serve, apikey, bench):
    _module.register(app)


def main() -> None:
    app()
