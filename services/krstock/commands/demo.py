"""``krstock demo``: the whole platform on one machine, no cluster, no setup.

Embedded PostgreSQL unless KRSTOCK_DATABASE_URL is set (its data in a per-user folder, reused by
the next run unless ``--fresh``), in-process Redis (fakeredis, served on a loopback port so the
gateway shares it) unless KRSTOCK_REDIS_URL is set, eager tasks, the synthetic market unless
``--source krx``. It backfills enough history, runs the daily pipeline over the last trading days
so that signals open and close, prints a summary and then serves the gateway on localhost (unless
``--no-serve``), where clients on this machine may write without a key (the monolith's frontend
cannot send one; KRSTOCK_WRITE_TRUSTED_NETWORKS overrides) and the last line is the dashboard's
URL. On a terminal only warnings and its own progress show unless ``--verbose``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import typer

from krstock.output import emit_json, stderr_console

BACKFILL_CALENDAR_DAYS = 400  # ≥ 260 trading days: the VCP's 12-month RS and 52-week range


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        ctx: typer.Context,
        source: str = typer.Option("sample", help="sample (synthetic market) or krx (internet)."),
        end: str | None = typer.Option(
            None, "--end", help="Last trading day to run (default: the sample market's last day)."
        ),
        days: int = typer.Option(8, min=1, max=60, help="Trading days of daily pipeline runs."),
        data_dir: Path | None = typer.Option(
            None,
            "--data-dir",
            help="Folder of the embedded database (default: ~/.local/state/krstock/demo; "
            "as root /tmp/krstock-demo-0).",
        ),
        fresh: bool = typer.Option(
            False, "--fresh", help="Delete the embedded database of an earlier run first."
        ),
        serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the gateway after."),
        host: str = typer.Option("127.0.0.1", help="Gateway host."),
        port: int = typer.Option(8000, help="Gateway port."),
        verbose: bool = typer.Option(
            False, "--verbose", "-v", help="Show every log line (libraries' info too)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Run the main job on embedded defaults and show what it found."""
        configured_level = logging.getLogger().level
        _choose_log_level(verbose, ctx.find_root().params.get("log_level"))
        summary = run_demo(source=source, end=end, days=days, data_dir=data_dir, fresh=fresh)
        if as_json:
            emit_json(summary)
        else:
            print_summary(summary)
        if serve:
            _trust_loopback_writes(host)
            if summary["database"].startswith("embedded"):
                _print_demo_key(host, port)
            logging.getLogger().setLevel(min(configured_level, logging.getLogger().level))
            _serve_gateway(host, port)


def _choose_log_level(verbose: bool, cli_level: str | None) -> None:
    """On a terminal, hide the libraries' info lines (alembic, pg_ctl, Celery results) that
    would bury the summary; ``--verbose``, ``--log-level`` or KRSTOCK_LOG_LEVEL keep them."""
    if verbose:
        logging.getLogger().setLevel(logging.INFO)
        return
    if cli_level or "KRSTOCK_LOG_LEVEL" in os.environ or not sys.stderr.isatty():
        return
    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); nothing for the user to do.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _database_url(data_dir: Path | None, fresh: bool) -> tuple[str, str]:
    from krstock.app.local import (
        default_demo_dir,
        embedded_postgres_url,
        has_database,
        pgdata_in,
        remove_database,
    )
    from krstock.config import get_settings

    configured = get_settings().database_url
    if configured:
        return configured, "configured (KRSTOCK_DATABASE_URL)"
    folder = (data_dir or default_demo_dir()).expanduser().absolute()
    if fresh:
        remove_database(folder)
    elif has_database(folder):
        stderr_console.print(
            f"reusing the demo database of an earlier run in {pgdata_in(folder)} "
            "(--fresh starts from an empty one)",
            soft_wrap=True,
        )
    with stderr_console.status("starting embedded PostgreSQL"):
        url = embedded_postgres_url(folder)
    os.environ["KRSTOCK_DATABASE_URL"] = url
    return url, f"embedded ({pgdata_in(folder)})"


def _redis_url() -> tuple[str, str]:
    """The configured Redis, else an in-process one served on loopback for this run: the
    pipeline and the gateway (chat memory, cache, events) then share one Redis."""
    from krstock.app.local import start_local_redis
    from krstock.config import get_settings

    configured = get_settings().redis_url
    if configured:
        return configured, "configured (KRSTOCK_REDIS_URL)"
    url, _stop = start_local_redis()  # a daemon thread: it ends with the process
    os.environ["KRSTOCK_REDIS_URL"] = url
    where = url.removeprefix("redis://").rsplit("/", 1)[0]
    return url, f"in-process Redis (fakeredis) on {where}"


def run_demo(
    *,
    source: str = "sample",
    end: str | None = None,
    days: int = 8,
    data_dir: Path | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    from krstock.app.collect import run_collect
    from krstock.config import get_settings
    from krstock.db.migrate import upgrade
    from krstock.db.session import make_engine
    from krstock.domain.calendar import krx_trading_dates
    from krstock.marketdata.registry import get_source
    from krstock.worker.rundaily import run_daily_in_process

    started = time.perf_counter()
    url, db_mode = _database_url(data_dir, fresh)
    _, redis_mode = _redis_url()
    os.environ["KRSTOCK_MARKET_SOURCE"] = source  # the daily runs collect from the same source
    get_settings.cache_clear()
    settings = get_settings()
    upgrade(url, "head")
    engine = make_engine(url, settings)

    market = get_source(source)
    last_day = date.fromisoformat(end) if end else getattr(market, "end", date.today())
    run_days = krx_trading_dates(last_day - timedelta(days=days * 2 + 14), last_day)[-days:]

    backfill_start = run_days[0] - timedelta(days=BACKFILL_CALENDAR_DAYS)
    backfill_end = run_days[0] - timedelta(days=1)
    with stderr_console.status(f"backfilling {backfill_start} .. {backfill_end} from {source}"):
        backfill = run_collect(engine, start=backfill_start, end=backfill_end, source=market)

    pipeline_runs = []
    for number, day in enumerate(run_days, start=1):
        with stderr_console.status(f"daily pipeline {day} ({number}/{len(run_days)})"):
            outcome = run_daily_in_process(day, source=source)
        pipeline_runs.append(
            {
                "date": day.isoformat(),
                "status": outcome.get("status"),
                "run_id": outcome.get("run_id"),
            }
        )
    report = _report(engine, run_days[-1])
    engine.dispose()
    return {
        "source": source,
        "source_note": "synthetic market (not real prices)" if source == "sample" else source,
        "database": db_mode,
        "redis": redis_mode,
        "backfill": {
            "start": backfill_start.isoformat(),
            "end": backfill_end.isoformat(),
            "tables": backfill.get("tables", {}),
        },
        "pipeline": pipeline_runs,
        **report,
        "duration_s": round(time.perf_counter() - started, 1),
    }


def _report(engine: Any, day: date) -> dict[str, Any]:
    """What a newcomer wants to see: the gate, the day's best signals, positions, performance."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from krstock.db.models import MarketGateSnapshot, Signal, Stock, Trade

    with Session(engine) as session:
        gate = session.scalar(
            select(MarketGateSnapshot).order_by(MarketGateSnapshot.date.desc()).limit(1)
        )
        top: dict[str, list[dict[str, Any]]] = {}
        for strategy in ("closing-bet", "vcp", "vcp-legacy"):
            rows = session.execute(
                select(Signal, Stock.name)
                .join(Stock, Stock.ticker == Signal.ticker, isouter=True)
                .where(Signal.strategy == strategy, Signal.signal_date == day)
                .order_by(Signal.grade.asc().nulls_last(), Signal.score.desc().nulls_last())
                .limit(5)
            ).all()
            top[strategy] = [
                {
                    "ticker": s.ticker,
                    "name": name,
                    "grade": s.grade,
                    "score": s.score,
                    "status": s.status,
                    "entry_price": s.entry_price,
                    "quantity": s.quantity,
                    "position_size": s.position_size,
                }
                for s, name in rows
            ]
        open_positions = dict(
            session.execute(
                select(Signal.strategy, func.count())
                .where(Signal.status == "OPEN")
                .group_by(Signal.strategy)
            ).all()
        )
        performance = {}
        for strategy, count, wins, avg in session.execute(
            select(
                Trade.strategy,
                func.count(),
                func.count().filter(Trade.net_return_pct > 0),
                func.avg(Trade.net_return_pct),
            ).group_by(Trade.strategy)
        ).all():
            performance[strategy] = {
                "closed_trades": int(count),
                "win_rate": round(100.0 * wins / count, 1) if count else None,
                "avg_return_pct": round(float(avg), 2) if avg is not None else None,
            }
    return {
        "market_gate": None
        if gate is None
        else {
            "date": gate.date.isoformat(),
            "status": gate.status,
            "score": gate.score,
            "reasons": gate.reasons,
        },
        "top_signals": top,
        "open_positions": open_positions,
        "performance": performance,
    }


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.rule(f"krstock demo — source: {summary['source_note']}")
    console.print(f"database: {summary['database']}; redis: {summary['redis']}")
    loaded = summary["backfill"]["tables"]
    console.print(
        "backfilled "
        + ", ".join(f"{name} {info.get('rows', 0):,}" for name, info in loaded.items())
        + f" ({summary['backfill']['start']} .. {summary['backfill']['end']})"
    )
    runs = summary["pipeline"]
    ok = sum(1 for r in runs if r["status"] == "SUCCEEDED")
    console.print(
        f"daily pipeline: {ok}/{len(runs)} days succeeded ({runs[0]['date']} .. {runs[-1]['date']})"
    )
    gate = summary["market_gate"]
    if gate:
        console.print(
            f"\n[bold]Market Gate {gate['date']}: {gate['status']} ({gate['score']})[/bold]"
        )
        for reason in gate["reasons"]:
            console.print(f"  · {reason}")
    for strategy, rows in summary["top_signals"].items():
        table = Table(title=f"top {strategy} signals", title_justify="left")
        for column in ("ticker", "name", "grade", "score", "status", "entry", "qty", "size (KRW)"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                r["ticker"],
                r["name"] or "",
                r["grade"] or "",
                f"{r['score']:.1f}" if r["score"] is not None else "",
                r["status"],
                f"{r['entry_price']:,.0f}" if r["entry_price"] else "",
                f"{r['quantity']:,}" if r["quantity"] else "",
                f"{r['position_size']:,}" if r["position_size"] else "",
            )
        console.print(table if rows else f"{strategy}: no signals on the last day")
    console.print(f"\nopen positions: {summary['open_positions'] or 'none'}")
    perf = summary["performance"]
    if perf:
        for strategy, p in perf.items():
            console.print(
                f"performance {strategy}: {p['closed_trades']} closed, win rate {p['win_rate']}%, "
                f"avg {p['avg_return_pct']}%"
            )
    else:
        console.print("performance: no closed trades yet")
    console.print(f"\nfinished in {summary['duration_s']} s")


def _print_demo_key(host: str, port: int) -> None:
    """Writes and triggers need a key: the embedded demo database gets one, shown once.

    Only for the throwaway embedded database; a configured database is left alone (create keys
    there with ``krstock apikey create``)."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from krstock.api.infra.apikeys import create_key
    from krstock.db.session import get_engine

    with Session(get_engine()) as session, session.begin():
        name = f"demo-{datetime.now(UTC):%Y%m%dT%H%M%S}"
        key, _ = create_key(session, name, "read,write")
    stderr_console.print(
        f"API key for write routes on this demo database (shown once): {key}\n"
        f"  e.g. curl -X POST -H 'X-API-Key: {key}' http://{host}:{port}/api/kr/jongga-v2/run",
        soft_wrap=True,
    )


LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"
TRUSTED_NETWORKS_ENV = "KRSTOCK_WRITE_TRUSTED_NETWORKS"


def _trust_loopback_writes(host: str) -> None:
    """Let clients on this machine write without a key (the monolith's frontend cannot send
    one), unless KRSTOCK_WRITE_TRUSTED_NETWORKS says otherwise. Only loopback is trusted, so a
    gateway listening beyond it (``--host 0.0.0.0``) still wants the key from anywhere else;
    X-Forwarded-For is not believed (no trusted proxy)."""
    from krstock.config import get_settings

    if TRUSTED_NETWORKS_ENV in os.environ:
        networks = os.environ[TRUSTED_NETWORKS_ENV] or "none"
        stderr_console.print(f"writes without a key from: {networks} ({TRUSTED_NETWORKS_ENV})")
        return
    os.environ[TRUSTED_NETWORKS_ENV] = LOOPBACK_NETWORKS
    get_settings.cache_clear()
    note = "" if _is_loopback(host) else f"; other clients of {host} need the API key"
    stderr_console.print(
        f"writes from this machine need no key ({TRUSTED_NETWORKS_ENV}={LOOPBACK_NETWORKS}){note}",
        soft_wrap=True,
    )


def _is_loopback(host: str) -> bool:
    from ipaddress import ip_address

    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def dashboard_url(host: str, port: int) -> str:
    """Where the dashboard pages are served: a wildcard host is reached on loopback."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/dashboard/kr"


def _serve_gateway(host: str, port: int) -> None:
    import uvicorn

    from krstock.api.gateway import create_app

    # uvicorn re-raises SIGTERM after its shutdown: exit normally then, so that atexit stops the
    # embedded PostgreSQL instead of leaving it running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    stderr_console.print(
        f"serving the gateway on http://{host}:{port} (docs at /docs); Ctrl-C stops"
    )
    stderr_console.print(f"Dashboard: {dashboard_url(host, port)}", soft_wrap=True)
    # proxy_headers off: only KRSTOCK_TRUST_FORWARDED_FOR makes the app believe X-Forwarded-For.
    uvicorn.run(create_app(), host=host, port=port, log_level="warning", proxy_headers=False)
