"""``krstock scan KIND``, ``krstock track`` and ``krstock backtest STRATEGY`` over the database."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from krstock.app.kinds import SCAN_KINDS, RunKind
from krstock.errors import UsageError
from krstock.output import emit_json, stderr_console

# The strategies a backtest replays (krstock.app.catalogue.BACKTEST_KINDS, without importing
# the engines to print the help).
BACKTEST_NAMES = ("vcp", "vcp-legacy", "closing-bet")

DATE_HELP = "Trading day, YYYY-MM-DD."
POLICY_OPTION = typer.Option(
    None, "--policy", help="A SignalPolicy YAML/JSON file or a preset name (default: monolith)."
)
JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON on stdout.")
URL_OPTION = typer.Option(None, "--database-url", help="Default: KRSTOCK_DATABASE_URL.")


def _engine(url: str | None) -> Any:
    from krstock.db.session import configured_url, make_engine

    try:
        return make_engine(url or configured_url())
    except Exception as exc:  # no URL, or not a PostgreSQL one: the call is wrong
        raise UsageError(str(exc), "pass --database-url or set KRSTOCK_DATABASE_URL") from exc


def _run(database_url: str | None, kind: str | RunKind, **params: Any) -> dict[str, Any]:
    """Run a request through ``krstock.app.runs`` on its own engine (closed afterwards); errors
    go up to the one error path in ``krstock.cli``."""
    from krstock.app.runs import RunRequest, run

    engine = _engine(database_url)
    try:
        return dict(run(engine, RunRequest.parse(kind, **params)))
    finally:
        engine.dispose()


def _print_signals(result: dict[str, Any], limit: int = 20) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    title = (
        f"{result['kind']} {result['date']}: {len(result['signals'])} signals "
        f"of {result['scanned']} scanned (policy {result['policy']}, run {result['run_id']})"
    )
    table = Table(title=title)
    for column in ("ticker", "name", "market", "grade", "score", "status", "entry", "qty"):
        table.add_column(column)
    for s in result["signals"][:limit]:
        table.add_row(
            s["ticker"],
            s.get("name") or "",
            s.get("market") or "",
            s.get("grade") or "",
            f"{s['score']:.1f}" if s.get("score") is not None else "",
            s.get("status") or "",
            f"{s['entry_price']:,.0f}" if s.get("entry_price") else "",
            f"{s['quantity']:,}" if s.get("quantity") else "",
        )
    console.print(table)
    for line in explain(result):
        console.print(line, style="yellow", soft_wrap=True, markup=False)


def explain(result: dict[str, Any]) -> list[str]:
    """What the table cannot show: the inputs the run lacked (``reasons``: one line each, with
    the command that gets them), a day the gate blocked, or, with no signals and nothing
    missing, that there were simply no setups."""
    reasons = result.get("reasons") or []
    lines = [_reason_line(reason) for reason in reasons]
    if result.get("blocked") and not any(_code(r) == "blocked_by_gate" for r in reasons):
        lines.append(f"no new signals: {result['blocked']}")
    if not result.get("signals") and not lines:
        lines.append(
            f"no signals: every input was there; none of the {result.get('scanned', 0)} stocks "
            f"scanned met the {result.get('kind')} rules (policy {result.get('policy')})"
        )
    return lines


def _code(reason: Any) -> str | None:
    return reason.get("code") if isinstance(reason, dict) else None


def _reason_line(reason: Any) -> str:
    if not isinstance(reason, dict):
        return f"missing: {reason}"
    label = "no new signals" if _code(reason) == "blocked_by_gate" else "missing"
    fix = f"; to get it: {reason['fix']}" if reason.get("fix") else ""
    return f"{label}: {reason.get('message', reason.get('code'))}{fix}"


def register(app: typer.Typer) -> None:
    scan_app = typer.Typer(help="Run a scanner on one day over the whole universe.")

    def make_scan(kind: RunKind) -> None:
        @scan_app.command(kind, help=f"The {kind} scan on --date; stores its signals.")
        def _scan(
            day: str = typer.Option(..., "--date", help=DATE_HELP),
            policy: str | None = POLICY_OPTION,
            as_json: bool = JSON_OPTION,
            database_url: str | None = URL_OPTION,
            markets: str | None = typer.Option(
                None, "--markets", help="Only these markets, e.g. KOSDAQ or KOSPI,KOSDAQ."
            ),
            tickers: str | None = typer.Option(
                None, "--tickers", help="Only these 6-character codes, comma-separated."
            ),
            top_n: int | None = typer.Option(
                None, "--top-n", min=1, help="Then only the N most traded (KRW) that day."
            ),
        ) -> None:
            result = _run(
                database_url,
                kind,
                day=_parse_day(day),
                policy=policy,
                markets=markets,
                tickers=tickers,
                top_n=top_n,
            )
            if as_json:
                emit_json(result)
            else:
                _print_signals(result)

    for kind in SCAN_KINDS:
        make_scan(kind)

    @scan_app.command("market-gate", help="The Market Gate on --date; stores the snapshot.")
    def _gate(
        day: str = typer.Option(..., "--date", help=DATE_HELP),
        policy: str | None = POLICY_OPTION,
        as_json: bool = JSON_OPTION,
        database_url: str | None = URL_OPTION,
    ) -> None:
        result = _run(database_url, RunKind.MARKET_GATE, day=_parse_day(day), policy=policy)
        if as_json:
            emit_json(result)
        else:
            gate = result["gate"]
            typer.echo(f"market gate {result['date']}: {gate['status']} {gate['score']}")
            for reason in gate["reasons"]:
                typer.echo(f"  - {reason}")
            for reason in result.get("reasons") or []:
                typer.echo(_reason_line(reason))

    app.add_typer(scan_app, name="scan")

    @app.command("track", help="Mark open signals to market on --date and close them by rule.")
    def _track(
        day: str = typer.Option(..., "--date", help=DATE_HELP),
        policy: str | None = POLICY_OPTION,
        as_json: bool = JSON_OPTION,
        database_url: str | None = URL_OPTION,
    ) -> None:
        result = _run(database_url, RunKind.TRACK, day=_parse_day(day), policy=policy)
        if as_json:
            emit_json(result)
        else:
            typer.echo(
                f"track {result['date']}: {result['open_before']} open, {result['closed']} closed "
                f"{result['closed_by_reason']}"
            )

    @app.command("backtest", help="Replay a strategy day by day (no look-ahead) and track it.")
    def _backtest(
        strategy: str = typer.Argument(..., help=", ".join(BACKTEST_NAMES)),
        start: str = typer.Option(..., "--start", help=DATE_HELP),
        end: str = typer.Option(..., "--end", help=DATE_HELP),
        policy: str | None = POLICY_OPTION,
        as_json: bool = JSON_OPTION,
        database_url: str | None = URL_OPTION,
    ) -> None:
        with stderr_console.status(f"backtesting {strategy} {start}..{end}"):
            result = _run(
                database_url,
                RunKind.BACKTEST,
                strategy=strategy,
                start=_parse_day(start),
                end=_parse_day(end),
                policy=policy,
            )
        if as_json:
            emit_json(result)
        else:
            typer.echo(_backtest_line(strategy, result))


def _percent(value: Any) -> str:
    """A percentage, or ``n/a`` when there is none (no trades, no benchmark index data)."""
    return "n/a" if value is None else f"{value}%"


def _backtest_line(strategy: str, result: dict[str, Any]) -> str:
    s = result["summary"]
    benchmark = (result.get("benchmark") or {}).get("return_pct")
    return (
        f"backtest {strategy} {result['start']}..{result['end']}: "
        f"{s.get('trades', 0)} trades, win rate {_percent(s.get('win_rate'))}, "
        f"avg {_percent(s.get('avg_return_pct'))}, "
        f"max drawdown {_percent(s.get('max_drawdown_pct'))}, "
        f"benchmark {_percent(benchmark)}"
    )


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from exc
