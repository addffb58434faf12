"""The ``krstock`` command. Each command group lives in ``krstock.commands.<group>``.

Starting must stay quick (``krstock --help``, probes, CronJobs): the command modules import typer,
rich and the standard library at the top, and pandas, SQLAlchemy, Celery, FastAPI ... inside the
commands that use them (``tests/unit/test_cli_light.py`` checks).
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from krstock import __version__
from krstock.commands import (
    analyze,
    apikey,
    bench,
    collect,
    db,
    demo,
    eval_ai,
    ingest,
    pipeline,
    scan,
    serve,
)
from krstock.errors import KrstockError, UsageError, as_user_error
from krstock.output import emit_json

_ARGS_KEY = "krstock.args"


class _OneLineErrors(TyperGroup):
    """The one error path: any exception a command raises ends as one ``error: ...`` line on
    stderr (and ``{"ok": false, "error": {...}}`` on stdout with --json) and the exit code of
    its class (``krstock.errors``); ``--debug`` or ``KRSTOCK_DEBUG=1`` keep the traceback."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta[_ARGS_KEY] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as exc:
            if not _is_usage_error(exc):
                raise  # help shown for a bare group, and the like: Typer reports them
            failed = getattr(exc, "ctx", None)  # the (sub)command whose arguments were wrong
            command = failed.command_path if failed is not None else "krstock"
            message = exc.format_message().rstrip(".")
            _report(ctx, UsageError(message, f"see '{command} --help'"), exc)
        except Exception as exc:
            _report(ctx, as_user_error(exc), exc)


def _is_usage_error(exc: Exception) -> bool:
    """Click's usage errors (a missing or malformed option), not its help-on-no-arguments."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "UsageError" in names and "NoArgsIsHelpError" not in names


def _report(ctx: Any, error: KrstockError, cause: Exception) -> NoReturn:
    """One line on stderr (and the error object on stdout with --json), then the class's exit
    code; with --debug or KRSTOCK_DEBUG=1 the original exception and its traceback instead."""
    args = ctx.meta.get(_ARGS_KEY, [])
    if "--debug" in args or os.environ.get("KRSTOCK_DEBUG", "") not in ("", "0"):
        raise cause
    if "--json" in args:
        emit_json({"ok": False, "error": error.to_dict()})
    typer.echo(error.line(), err=True)
    raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=_OneLineErrors,
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
    _debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of an error (also KRSTOCK_DEBUG=1)."
    ),
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
for _module in (db, ingest, collect, scan, analyze, demo, pipeline, serve, apikey, bench, eval_ai):
    _module.register(app)


# libpq's connect timeout where a connection sets none (Alembic's engine, pg_dump/pg_restore):
# an address that never answers fails in seconds rather than after the kernel's TCP retries.
CONNECT_TIMEOUT_S = "5"


def main() -> None:
    os.environ.setdefault("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_S)
    app()
