"""``krstock bench scan-db``: every scan over the whole synthetic universe, database included.

On a scratch database (created, migrated, filled by ``collect`` from the sample market and
dropped at the end; or ``--database-url`` with data already in it), for one trading day:
- ``window_load_s``: ``load_market_window`` alone (the one set-based read every scan does);
- per kind, ``scan_s``: ``run_scan`` end to end as ``krstock scan <kind> --date D`` runs it
  (read, vectorized engines, the signals write and the ``scan_runs`` bookkeeping), the median
  of ``--repeat`` runs (the first run inserts, later ones re-write the same rows);
- ``collect_s``: how long filling the scratch database took (context only).
The target is ``scan_s`` ≤ 5 s per kind for 2,500 tickers × 260 days on 2 cores.
"""

from __future__ import annotations

import statistics
import time
from datetime import date
from typing import Any

import typer

from krstock.benchmarks.ingest import DEFAULT_ADMIN, scratch_database
from krstock.commands._output import emit_json, stderr_console

TARGET_SCAN_S = 5.0
DEFAULT_DAY = date(2025, 12, 30)


def fill_with_sample(url: str, tickers: int, day: date, days: int) -> dict[str, Any]:
    """Collect the sample market's last ``days`` trading days up to ``day`` into ``url``."""
    from krstock.db.session import make_engine
    from krstock.ingest.collect import collect
    from krstock.domain.calendar import krx_trading_days
    from krstock.marketdata.sample import SampleMarket

    calendar = krx_trading_days(date(day.year - 3, 1, 1), day)
    if len(calendar) < days:
        raise ValueError(f"fewer than {days} trading days before {day}")
    start = calendar[-days].astype(object)
    market = SampleMarket(n_tickers=tickers, start=start, end=day)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        started = time.perf_counter()
        summary = collect(engine, market, start, day)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")  # what autovacuum would do after a bulk load
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    rows = {table: figures["rows"] for table, figures in summary["tables"].items()}
    return {"collect_s": round(seconds, 2), "start": start.isoformat(), "rows": rows}


def measure(url: str, day: date, kinds: list[str], repeat: int) -> dict[str, Any]:
    """Window load time and per-kind scan time (median of ``repeat``) on ``day``."""
    from krstock.app.catalogue import WINDOW_DAYS
    from krstock.app.scans import run_scan
    from krstock.db.reader import load_market_window
    from krstock.db.session import make_engine

    engine = make_engine(url, pool_size=2, max_overflow=0)
    try:
        loads = []
        for _ in range(repeat):
            with engine.connect() as conn:
                started = time.perf_counter()
                window = load_market_window(conn, day, WINDOW_DAYS)
                loads.append(time.perf_counter() - started)
        scans: dict[str, Any] = {}
        for kind in kinds:
            times, result = [], None
            for _ in range(repeat):
                started = time.perf_counter()
                result = run_scan(engine, kind=kind, day=day)
                times.append(time.perf_counter() - started)
            assert result is not None
            scans[kind] = {
                "scan_s": round(statistics.median(times), 3),
                "first_s": round(times[0], 3),
                "signals": len(result["signals"]),
                "scanned": result["scanned"],
            }
    finally:
        engine.dispose()
    return {
        "tickers": int(window.shape[0]),
        "days": int(window.shape[1]),
        "window_load_s": round(statistics.median(loads), 3),
        "scans": scans,
    }


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("scan-db")
    def scan_db(
        as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
        tickers: int = typer.Option(2500, "--tickers", help="Synthetic universe size."),
        days: int = typer.Option(
            270, "--days", help="Trading days collected (a scan reads the last 260)."
        ),
        day: str = typer.Option(DEFAULT_DAY.isoformat(), "--date", help="Scan day, YYYY-MM-DD."),
        repeat: int = typer.Option(3, "--repeat", min=1, help="Runs per kind (median)."),
        kind: list[str] = typer.Option(
            [], "--kind", help="Only these kinds (repeatable; default: all)."
        ),
        database_url: str | None = typer.Option(
            None, "--database-url", help="Measure this database as is (no scratch, no collect)."
        ),
        admin_url: str = typer.Option(
            DEFAULT_ADMIN, "--admin-url", help="Superuser URL used to create the scratch database."
        ),
    ) -> None:
        """Seconds per ``krstock scan <kind>`` over the whole universe, read and write included."""
        from krstock.app.scans import SCAN_KINDS

        scan_day = date.fromisoformat(day)
        kinds = kind or list(SCAN_KINDS)
        unknown = sorted(set(kinds) - set(SCAN_KINDS))
        if unknown:
            stderr_console.print(f"[red]error:[/red] unknown kinds {unknown}")
            raise typer.Exit(2)
        if database_url:
            figures = {"database": "given", **measure(database_url, scan_day, kinds, repeat)}
        else:
            with scratch_database(admin_url) as url:
                with stderr_console.status(f"collecting {tickers} sample tickers × {days} days"):
                    filled = fill_with_sample(url, tickers, scan_day, days)
                with stderr_console.status("scanning"):
                    figures = {
                        "database": "scratch",
                        **filled,
                        **measure(url, scan_day, kinds, repeat),
                    }
        slowest = max(s["scan_s"] for s in figures["scans"].values())
        figures.update(
            date=scan_day.isoformat(),
            target_scan_s=TARGET_SCAN_S,
            meets_target=slowest <= TARGET_SCAN_S,
        )
        if as_json:
            emit_json(figures)
            return
        typer.echo(
            f"{figures['tickers']} tickers × {figures['days']} days on {figures['date']}: "
            f"window load {figures['window_load_s']} s"
            + (f", collect {figures['collect_s']} s" if "collect_s" in figures else "")
        )
        for name, s in figures["scans"].items():
            typer.echo(
                f"  {name:<15} scan_s {s['scan_s']:>6}  (first {s['first_s']} s, "
                f"{s['signals']} signals)"
            )
        typer.echo(f"meets target (<= {TARGET_SCAN_S} s per scan): {figures['meets_target']}")
