"""``krstock eval ai``: hit rate and next-day return by action, the news score's rank
correlation with the next-day return, and the closing-bet news gate with LLM vs rules vs
"any news" — from our own stored analyses and prices, after the model's knowledge cutoff."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from krstock.errors import UsageError
from krstock.output import emit_json

NO_DATABASE = "no database: pass --database-url or set KRSTOCK_DATABASE_URL"


def _print(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"analyses after {report['after']}: next-day return by action")
    for column in ("source", "action", "n", "hit rate", "mean next-day %"):
        table.add_column(column)
    for row in report["by_action"]:
        table.add_row(
            row["source"],
            row["action"],
            str(row["n"]),
            f"{row['hit_rate']:.1%}" if row["hit_rate"] is not None else "-",
            f"{row['mean_next_day_return_pct']:+.2f}"
            if row["mean_next_day_return_pct"] is not None
            else "-",
        )
    console.print(table)
    cb = report["closing_bet"]
    corr = cb["news_score_vs_next_day"]
    console.print(
        f"closing-bet news score vs next-day return: n={corr['n']}, rho={corr['spearman']}"
    )
    gate = Table(title="closing-bet news gate (news >= 1) by judgement")
    for column in ("news from", "n", "hit rate", "mean next-day %"):
        gate.add_column(column)
    for name, row in cb["gate_replay"].items():
        gate.add_row(
            name,
            str(row["n"]),
            f"{row['hit_rate']:.1%}" if row["hit_rate"] is not None else "-",
            f"{row['mean_next_day_return_pct']:+.2f}"
            if row["mean_next_day_return_pct"] is not None
            else "-",
        )
    console.print(gate)
    console.print(report["note"])


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Evaluations from our own stored results.", no_args_is_help=True)

    @group.command("ai")
    def eval_ai_command(
        after: str | None = typer.Option(
            None, "--after", help="Count dates after this (default: KRSTOCK_AI_KNOWLEDGE_CUTOFF)."
        ),
        database_url: str | None = typer.Option(
            None, "--database-url", help="PostgreSQL URL (default: KRSTOCK_DATABASE_URL)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """How the stored AI analyses and news scores did on the next trading day."""
        from krstock.ai.evaluation import evaluate
        from krstock.app.kinds import RunKind, spellings
        from krstock.config import get_settings
        from krstock.db.session import make_engine

        settings = get_settings()
        try:
            cutoff = date.fromisoformat(after) if after else settings.ai.ai_knowledge_cutoff
        except ValueError:
            raise typer.BadParameter(
                f"{after!r} is not a YYYY-MM-DD date", param_hint="--after"
            ) from None
        url = database_url or settings.database_url
        if not url:
            raise UsageError(NO_DATABASE)
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            report = evaluate(engine, cutoff, spellings(RunKind.CLOSING_BET))
        finally:
            engine.dispose()
        if as_json:
            emit_json(report)
        else:
            _print(report)

    app.add_typer(group, name="eval")
