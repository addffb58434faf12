"""``krstock analyze --date D [--strategy closing-bet|vcp] [--refresh] [--json]``: the day's
top signals per strategy judged by Gemini on their fact sheets (rules without a key), stored,
and recorded as an ``ai-analysis`` run. A re-run with the same facts makes no LLM call."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from krstock.errors import UsageError
from krstock.output import emit_json

NO_DATABASE = (
    "no database: pass --database-url or set KRSTOCK_DATABASE_URL "
    "(e.g. postgresql://krstock@127.0.0.1:5432/krstock)"
)
STRATEGIES = ("vcp", "closing-bet")


def _print(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (
        f"analyze {report['date']}: {report['analyzed']} analyzed, {report['cached']} cached, "
        f"{report['rejected']} rejected, source {report['source']}"
    )
    table = Table(title=title)
    for column in ("ticker", "strategy", "action", "source", "grounded", "reason"):
        table.add_column(column, overflow="fold")
    for item in report["items"]:
        table.add_row(
            item["ticker"],
            item["strategy"],
            item["action"],
            item["source"],
            "yes" if item["grounded"] else "no",
            item["reason"],
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    @app.command("analyze")
    def analyze_command(
        day: str = typer.Option(..., "--date", help="Signal date (YYYY-MM-DD)."),
        strategy: str | None = typer.Option(
            None, "--strategy", help="closing-bet or vcp (default: both)."
        ),
        refresh: bool = typer.Option(
            False, "--refresh", help="Ask the model again even when the facts are unchanged."
        ),
        database_url: str | None = typer.Option(
            None, "--database-url", help="PostgreSQL URL (default: KRSTOCK_DATABASE_URL)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Analyze a day's top 10 signals per strategy (Gemini when configured, else rules)."""
        from krstock.app.analysis import run_analysis
        from krstock.config import get_settings
        from krstock.db.session import make_engine

        try:
            on = date.fromisoformat(day)
        except ValueError:
            raise typer.BadParameter(
                f"{day!r} is not a YYYY-MM-DD date", param_hint="--date"
            ) from None
        if strategy is not None and strategy not in STRATEGIES:
            raise typer.BadParameter(
                f"unknown strategy {strategy!r}; expected closing-bet or vcp",
                param_hint="--strategy",
            )
        settings = get_settings()
        url = database_url or settings.database_url
        if not url:
            raise UsageError(NO_DATABASE)
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            result = run_analysis(
                engine,
                day=on,
                strategies=[strategy] if strategy else None,
                refresh=refresh,
                settings=settings,
            )
        finally:
            engine.dispose()
        keys = ("date", "analyzed", "cached", "rejected", "source", "items")
        report = {k: result[k] for k in keys}
        report["items"] = [
            {k: i[k] for k in ("ticker", "strategy", "action", "source", "grounded", "reason")}
            for i in result["items"]
        ]
        if as_json:
            emit_json(report)
        else:
            _print(report)
