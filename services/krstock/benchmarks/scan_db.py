"""``krstock bench scan-db``: every scan over the whole synthetic universe, database included,
side by side with the raw COPY of the rows it reads.

On a scratch database (created, migrated, filled by ``collect`` from the sample market and
dropped at the end; or ``--database-url`` with data already in it), for one trading day:
- ``window_load_s``: ``load_market_window`` with every flow day (the largest read);
- per kind, ``scan_s``: ``run_scan`` end to end as ``krstock scan <kind> --date D`` runs it
  (read, vectorized engines, the signals write and the ``scan_runs`` bookkeeping), the median
  of ``--repeat`` runs (the first run inserts, later ones re-write the same rows);
- per kind, ``copy_s``: the baseline, measured in the same rounds (one COPY and one scan each,
  in alternating order, after an untimed COPY that warms the cache): ``COPY (SELECT ...) TO
  STDOUT (FORMAT binary)`` through psycopg, bytes discarded, of the table rows the scan reads
  (prices of its 260 dates; flows of its last 60, none for the trend template), median of the
  repeats; ``ratio`` = scan_s / copy_s, ``meets_ratio`` when ratio ≤ ``target_ratio`` (1.5);
- ``collect_s``: how long filling the scratch database took (context only).
The targets: ``scan_s`` ≤ 5 s per kind for 2,500 tickers × 260 days on 2 cores, and every scan
within 1.5× of reading its rows.

Measured on the 2-core shared machine (2,500 × 260, ``--database-url`` on one collected market,
before and after by this harness minutes apart; medians of 3):

    kind            before: copy_s scan_s ratio    after: copy_s scan_s ratio
    vcp                     0.76   1.75   2.30            0.54   0.59   1.09
    vcp-legacy              0.58   1.66   2.89            0.53   0.61   1.15
    trend-template          0.48   1.01   2.11            0.38   0.47   1.26
    closing-bet             0.56   1.52   2.73            0.53   0.60   1.12

(before: one CSV COPY of prices full-joined with flows, parsed by pandas, and signals written
through staging tables; after: two binary COPYs read from libpq and parsed while they arrive, and
one INSERT ... ON CONFLICT). More in docs/scans.md ("Speed").
"""

from __future__ import annotations

import collections
import statistics
import time
from datetime import date
from typing import TYPE_CHECKING, Any

import typer

from krstock.benchmarks.ingest import DEFAULT_ADMIN, scratch_database
from krstock.output import emit_json, stderr_console

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

TARGET_SCAN_S = 5.0
TARGET_RATIO = 1.5
DEFAULT_DAY = date(2025, 12, 30)


def fill_with_sample(url: str, tickers: int, day: date, days: int) -> dict[str, Any]:
    """Collect the sample market's last ``days`` trading days up to ``day`` into ``url``."""
    from krstock.db.session import make_engine
    from krstock.domain.calendar import krx_trading_days
    from krstock.ingest.collect import collect
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


def baseline_statements(conn: Connection, day: date, days: int, flow_days: int) -> list[str]:
    """Plain SELECTs of the table rows a scan reads, the columns its window holds: the prices
    of the last ``days`` trading dates up to ``day`` and the flows of the last ``flow_days``
    (no flow statement for 0)."""
    from krstock.db.reader import trading_days

    dates = trading_days(conn, day, days)
    if len(dates) == 0:
        raise LookupError(f"no daily prices up to {day.isoformat()}")
    lo, hi = dates[0].item(), dates[-1].item()
    statements = [
        "SELECT ticker, date, open, high, low, close, volume, trading_value, halted "
        f"FROM daily_prices WHERE date BETWEEN '{lo}' AND '{hi}'"
    ]
    if flow_days > 0:
        flow_lo = dates[max(0, len(dates) - flow_days)].item()
        statements.append(
            "SELECT ticker, date, investor, net_volume, net_value FROM investor_flows "
            f"WHERE date BETWEEN '{flow_lo}' AND '{hi}'"
        )
    return statements


def copy_seconds(engine: Engine, statements: list[str]) -> float:
    """Seconds to ``COPY (statement) TO STDOUT (FORMAT binary)`` each of ``statements``
    through psycopg, every message received and discarded."""
    import psycopg

    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        started = time.perf_counter()
        with raw.cursor() as cur:
            for statement in statements:
                with cur.copy(f"COPY ({statement}) TO STDOUT (FORMAT binary)") as copy:
                    collections.deque(copy, maxlen=0)  # receive every message, keep none
        return time.perf_counter() - started


def _timed_scan(engine: Engine, kind: str, day: date) -> tuple[float, dict[str, Any]]:
    from krstock.app.scans import run_scan

    started = time.perf_counter()
    result = run_scan(engine, kind=kind, day=day)
    return time.perf_counter() - started, result


def measure_kind(engine: Engine, kind: str, day: date, repeat: int) -> dict[str, Any]:
    """One kind: ``repeat`` rounds of a raw COPY of its rows and a scan, medians.

    An untimed COPY first brings the rows into PostgreSQL's cache (the previous kind may have
    read other rows), and the rounds alternate which of the two goes first, so neither always
    finds the cache the other warmed."""
    from krstock.app import catalogue
    from krstock.app.kinds import SCAN_KINDS, parse_kind

    strategy = catalogue.strategy(parse_kind(kind, SCAN_KINDS))
    with engine.connect() as conn:
        statements = baseline_statements(conn, day, strategy.lookback_days, strategy.flow_days)
    copy_seconds(engine, statements)
    copies, scans, result = [], [], None
    for round_ in range(repeat):
        if round_ % 2:
            seconds, result = _timed_scan(engine, kind, day)
            copies.append(copy_seconds(engine, statements))
        else:
            copies.append(copy_seconds(engine, statements))
            seconds, result = _timed_scan(engine, kind, day)
        scans.append(seconds)
    assert result is not None
    copy_s, scan_s = statistics.median(copies), statistics.median(scans)
    return {
        "scan_s": round(scan_s, 3),
        "first_s": round(scans[0], 3),
        "copy_s": round(copy_s, 3),
        "ratio": round(scan_s / copy_s, 2),
        "meets_ratio": scan_s / copy_s <= TARGET_RATIO,
        "signals": len(result["signals"]),
        "scanned": result["scanned"],
    }


def trading_days_figures(conn: Connection, day: date, days: int, repeat: int) -> dict[str, Any]:
    """The two trading-days queries side by side (medians of ``repeat``): the loose index scan
    plain PostgreSQL uses and the date-bounded DISTINCT pass used on TimescaleDB hypertables;
    they must return the same dates."""
    from krstock.db import reader
    from krstock.db.timescale import distinct_trading_days

    params = {"end": day, "days": days, "start": day - reader._calendar_span(days)}
    timings: dict[str, list[float]] = {"loose": [], "distinct": []}
    found: dict[str, list[Any]] = {}
    for _ in range(repeat):
        for name, query in (
            ("loose", reader._TRADING_DAYS),
            ("distinct", reader._TRADING_DAYS_DISTINCT),
        ):
            started = time.perf_counter()
            found[name] = list(conn.execute(query, params).scalars())
            timings[name].append(time.perf_counter() - started)
    loose, distinct = (statistics.median(timings[k]) for k in ("loose", "distinct"))
    return {
        "loose_s": round(loose, 4),
        "distinct_s": round(distinct, 4),
        "distinct_over_loose": round(distinct / loose, 2) if loose else None,
        "same_dates": found["loose"] == found["distinct"],
        "used": "distinct" if distinct_trading_days(conn) else "loose",
    }


def measure(url: str, day: date, kinds: list[str], repeat: int) -> dict[str, Any]:
    """Window load time, and per kind the scan and COPY times (medians of ``repeat``)."""
    from krstock.app.catalogue import WINDOW_DAYS
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
        with engine.connect() as conn:
            days_figures = trading_days_figures(conn, day, WINDOW_DAYS, repeat)
        scans = {kind: measure_kind(engine, kind, day, repeat) for kind in kinds}
    finally:
        engine.dispose()
    return {
        "tickers": int(window.shape[0]),
        "days": int(window.shape[1]),
        "window_load_s": round(statistics.median(loads), 3),
        "trading_days": days_figures,
        "scans": scans,
    }


def _print_human(figures: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"{figures['tickers']} tickers × {figures['days']} days on {figures['date']}: "
        f"window load {figures['window_load_s']} s"
        + (f", collect {figures['collect_s']} s" if "collect_s" in figures else "")
    )
    table = Table("kind", "scan_s", "copy_s", "ratio", "first_s", "signals")
    for name, s in figures["scans"].items():
        ratio = f"{s['ratio']:.2f}" if s["meets_ratio"] else f"[red]{s['ratio']:.2f}[/red]"
        table.add_row(
            name, f"{s['scan_s']}", f"{s['copy_s']}", ratio, f"{s['first_s']}", f"{s['signals']}"
        )
    console.print(table)
    console.print(
        f"meets target (<= {TARGET_SCAN_S} s per scan): {figures['meets_target']}; "
        f"within {TARGET_RATIO}x of the raw COPY: {figures['meets_ratio']}"
    )


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
        """Seconds per ``krstock scan <kind>`` over the whole universe, read and write included,
        next to a raw COPY of the rows each scan reads."""
        from krstock.app.scans import SCAN_KINDS

        scan_day = date.fromisoformat(day)
        kinds = [str(k) for k in kind or SCAN_KINDS]  # JSON keys: plain str, not RunKind
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
        scans = figures["scans"].values()
        figures.update(
            date=scan_day.isoformat(),
            target_scan_s=TARGET_SCAN_S,
            meets_target=max(s["scan_s"] for s in scans) <= TARGET_SCAN_S,
            target_ratio=TARGET_RATIO,
            meets_ratio=all(s["meets_ratio"] for s in scans),
        )
        if as_json:
            emit_json(figures)
            return
        _print_human(figures)
