"""``krstock eval ai``: hit rate and next-day return by action, the news score's rank
correlation with the next-day return, and the closing-bet backtest with news from the model vs
the lexicon vs "any news" — from our own stored analyses, news and prices, after the model's
knowledge cutoff."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from krstock.errors import UsageError
from krstock.output import emit_json, progress_bar

NO_DATABASE = "no database: pass --database-url or set KRSTOCK_DATABASE_URL"


def _number(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.1f}"


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
    backtest = cb["backtest"]
    if not backtest.get("variants"):
        console.print(f"closing-bet backtest by news judgement: {backtest.get('empty')}")
    else:
        bt = Table(
            title=(
                f"closing-bet backtest {backtest['start']}..{backtest['end']} "
                f"({backtest['days']} days, policy {backtest['policy']}) by news judgement"
            )
        )
        for column in ("news from", "trades", "by grade", "win %", "avg %", "compounded %"):
            bt.add_column(column)
        bt.add_column("max DD %")
        bt.add_column("news judged by")
        for name, row in backtest["variants"].items():
            grades = " ".join(f"{g}{s['trades']}" for g, s in sorted(row["by_grade"].items()))
            bt.add_row(
                name,
                f"{row['trades']} (+{row['open_trades']} open)",
                grades or "-",
                _number(row["win_rate"], signed=False),
                _number(row["avg_return_pct"]),
                _number(row["total_return_compounded_pct"]),
                _number(row["max_drawdown_pct"], signed=False),
                ", ".join(f"{k} {v}" for k, v in row["news_judged"].items()) or "-",
            )
        console.print(bt)
        if backtest.get("note"):
            console.print(backtest["note"])
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
        policy: str | None = typer.Option(
            None, "--policy", help="SignalPolicy file or preset for the backtest (monolith)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """How the stored AI analyses and news scores did on the next trading day."""
        from krstock.ai.evaluation import evaluate
        from krstock.app.kinds import RunKind, spellings
        from krstock.app.news_backtest import news_variant_backtests
        from krstock.app.policies import resolve_policy
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
        resolved = resolve_policy(policy)  # a bad policy is named before any database work
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            report = evaluate(engine, cutoff, spellings(RunKind.CLOSING_BET))
            with progress_bar("closing-bet backtest", total=3) as bar:
                report["closing_bet"]["backtest"] = news_variant_backtests(
                    engine,
                    cutoff,
                    policy=resolved,
                    progress=lambda step: bar.advance(1, description=step),
                )
        finally:
            engine.dispose()
        if as_json:
            emit_json(report)
        else:
            _print(report)

    app.add_typer(group, name="eval")
