"""The ``krstock`` command. Each command group lives in ``krstock.commands.<group>``."""

from __future__ import annotations

import importlib
import logging

import typer

from krstock import __version__
from krstock.config import get_settings
from krstock.logging_setup import configure_logging

app = typer.Typer(
    name="krstock",
    help="Korean stock signal platform: data, scans, tracking, services.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Modules in krstock.commands, one per command group or single command.
# A module registers itself by exposing ``register(app)``.
COMMAND_MODULES = (
    "db",
    "ingest",
    "collect",
    "scan",
    "demo",
    "pipeline",
    "serve",
    "apikey",
    "bench",
)

log = logging.getLogger("krstock")


@app.callback()
def _root(
    log_level: str = typer.Option(None, help="Override KRSTOCK_LOG_LEVEL."),
) -> None:
    settings = get_settings()
    configure_logging(log_level or settings.log_level, settings.log_format)


@app.command()
def version() -> None:
    """Print the krstock version."""
    typer.echo(__version__)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"krstock.commands.{name}")
        except ModuleNotFoundError as exc:
            # Only a missing command module is tolerated (a group not yet built);
            # a missing dependency inside one is a real error.
            if exc.name != f"krstock.commands.{name}":
                raise
            continue
        module.register(app)


_register_all()


def main() -> None:
    app()
