"""``krstock collect --source sample|krx|yahoo|krx-csv --start D --end D``: a source's
rows for a date range into the database, recorded as a ``collect`` scan run."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer

from krstock.config import MARKET_SOURCES
from krstock.errors import InputError, UsageError
from krstock.output import emit_json, progress_bar

FOLDER_SOURCES = {"krx-csv"}
NO_DATABASE = (
    "no database: pass --database-url or set KRSTOCK_DATABASE_URL "
    "(e.g. postgresql://krstock@127.0.0.1:5432/krstock)"
)


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date", param_hint=option) from None


def _source_options(source: str, path: Path | None, engine: Any) -> dict[str, Any]:
    if source in FOLDER_SOURCES:
        return {"folder": path}
    if source == "yahoo":
        # Yahoo has no KRX listing: use the stock list already in the database, if any.
        import pandas as pd
        from sqlalchemy import text

        with engine.connect() as conn:
            universe = pd.read_sql(text("SELECT ticker, name, market FROM stocks"), conn)
        return {"universe": universe} if len(universe) else {}
    return {}


def _print(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"collect {summary['start']}..{summary['end']} from {summary['source']}")
    for column in ("table", "rows", "inserted", "updated", "note"):
        table.add_column(column, justify="left" if column in ("table", "note") else "right")
    for name, entry in summary.get("tables", {}).items():
        table.add_row(
            name,
            f"{entry['rows']:,}",
            f"{entry['inserted']:,}",
            f"{entry['updated']:,}",
            entry.get("skipped", ""),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    @app.command("collect")
    def collect_command(
        source: str = typer.Option(
            "sample", "--source", help=f"Market data source: {', '.join(MARKET_SOURCES)}."
        ),
        start: str = typer.Option(..., "--start", help="First day (YYYY-MM-DD)."),
        end: str = typer.Option(..., "--end", help="Last day (YYYY-MM-DD)."),
        tickers: str | None = typer.Option(
            None, "--tickers", help="Comma-separated tickers (default: the whole universe)."
        ),
        path: Path | None = typer.Option(None, "--path", help="Folder for the krx-csv source."),
        database_url: str | None = typer.Option(
            None, "--database-url", help="PostgreSQL URL (default: KRSTOCK_DATABASE_URL)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Collect [start, end] from a market data source into the database (idempotent)."""

        from krstock.app.collect import run_collect
        from krstock.config import get_settings
        from krstock.db.session import make_engine
        from krstock.marketdata.base import SourceError
        from krstock.marketdata.registry import SOURCES, get_source

        first, last = _day(start, "--start"), _day(end, "--end")
        if last < first:
            raise typer.BadParameter(f"--end {last} is before --start {first}")
        if source not in SOURCES:
            raise typer.BadParameter(
                f"unknown source {source!r}; valid names: {', '.join(SOURCES)}",
                param_hint="--source",
            )
        if source in FOLDER_SOURCES and path is None:
            raise typer.BadParameter(f"--path DIR is required for --source {source}")
        chosen = [t.strip().zfill(6) for t in tickers.split(",") if t.strip()] if tickers else None
        url = database_url or get_settings().database_url
        if not url:
            raise UsageError(NO_DATABASE)
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            market = get_source(source, **_source_options(source, path, engine))
            with progress_bar(f"collect {source}", total=100.0) as bar:
                done = [0.0]

                def advance(percent: float, message: str) -> None:
                    bar.advance(percent - done[0], description=message)
                    done[0] = percent

                summary = run_collect(
                    engine, start=first, end=last, source=market, tickers=chosen, progress=advance
                )
        except SourceError as exc:
            raise InputError(f"source error: {exc}") from exc
        finally:
            engine.dispose()
        if as_json:
            emit_json(summary)
        else:
            _print(summary)
