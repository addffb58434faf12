"""``krstock bench ingest``: the import path's throughput against a row-by-row ORM baseline.

On a scratch database (created, migrated and dropped; or ``--database-url``), in one run:
1. baseline: a row-by-row ORM insert of a subset: ``session.add`` + ``flush`` of one
   ``DailyPrice`` per row (one INSERT round trip per row, the way per-row loaders write), one
   commit at the end; the unit-of-work variant (one flush, which SQLAlchemy 2 batches into
   multi-row INSERTs) is printed as context;
2. the bulk path end to end: ``import krx-csv`` of the pykrx folder (a first load), then
   ``import legacy`` of the Gen1 ``daily_prices.csv`` (parsing, stock merge, COPY + upsert,
   verification included). That file was built from the same folder with change_rate rounded, so
   its load is a conflict check of every row that finds the same prices (19 real changes): see
   ``UpdateRules`` in ``krstock.db.bulk``.
Both run back to back in each of ``--rounds`` rounds (5; the tables are emptied between rounds);
prints the medians of rows, rows_per_s, baseline_rows_per_s and speedup (the ratio of those
medians; absolute figures on a shared machine are context only) and each round's figures.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from krstock.output import emit_json, stderr_console

DEFAULT_KRX = Path("../shared/data/krx-daily")
DEFAULT_PRICES = Path("../shared/data/legacy/daily_prices.csv")
DEFAULT_ADMIN = os.environ.get(
    "KRSTOCK_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TARGET_ROWS_PER_S = 100_000
TARGET_SPEEDUP = 50.0
_WARM_UP_ROWS = 50


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new database migrated to head, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    from krstock.db.migrate import upgrade
    from krstock.db.session import libpq_url

    admin = libpq_url(admin_url)
    name = f"krstock_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        upgrade(url, "head")
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def orm_baseline(
    url: str, krx_dir: Path, rows: int, *, flush_each: bool = False, commit_each: bool = False
) -> tuple[int, float]:
    """Insert ``rows`` price rows one ``session.add`` at a time, one commit at the end; with
    ``flush_each`` also one flush (one INSERT round trip) per row; with ``commit_each`` one
    transaction per row (the naive loader). Returns (rows, seconds)."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from krstock.db.models import DailyPrice
    from krstock.db.session import make_engine
    from krstock.marketdata.krx_csv import read_folder

    prices = read_folder(krx_dir).prices.head(rows)
    records = prices.to_dict("records")

    def row(record: dict[Hashable, Any]) -> DailyPrice:
        return DailyPrice(
            ticker=record["ticker"],
            date=record["date"].date(),
            open=int(record["open"]),
            high=int(record["high"]),
            low=int(record["low"]),
            close=int(record["close"]),
            volume=int(record["volume"]),
            trading_value=_int_or_none(record["trading_value"]),
            change=_int_or_none(record["change"]),
            change_pct=_float_or_none(record["change_pct"]),
            halted=bool(record["halted"]),
            source=record["source"],
        )

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        # Warm-up, not timed: mapper configuration, statement compilation and the connection
        # are one-off costs that a real loader spreads over far more rows than this subset.
        with Session(engine) as session:
            for record in records[:_WARM_UP_ROWS]:
                session.add(row(record))
                session.flush()
            session.rollback()
        started = time.perf_counter()
        with Session(engine) as session:
            for record in records:
                session.add(row(record))
                if commit_each:
                    session.commit()
                elif flush_each:
                    session.flush()
            session.commit()
        seconds = time.perf_counter() - started
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE daily_prices"))
    finally:
        engine.dispose()
    return len(records), seconds


def _is_empty(url: str) -> bool:
    """True when ``daily_prices`` and ``stocks`` hold no rows (nothing the bench could harm)."""
    from sqlalchemy import text

    from krstock.db.session import make_engine

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            return not conn.execute(
                text("SELECT EXISTS (SELECT 1 FROM daily_prices) OR EXISTS (SELECT 1 FROM stocks)")
            ).scalar_one()
    finally:
        engine.dispose()


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value != value or str(value) == "<NA>" else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def bulk_path(url: str, krx_dir: Path, prices_csv: Path) -> dict[str, Any]:
    """Both imports end to end; returns rows, seconds and the per-import figures."""
    from krstock.db.session import make_engine
    from krstock.ingest.importer import import_krx_csv, import_legacy

    engine = make_engine(url, pool_size=1, max_overflow=0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "legacy"
        folder.mkdir()
        # The importer reads a folder; link (not copy) the one file under its monolith name.
        (folder / "daily_prices.csv").symlink_to(prices_csv.resolve())
        rejects = Path(tmp) / "rejects.csv"
        try:
            started = time.perf_counter()
            krx = import_krx_csv(krx_dir, engine, rejects_path=rejects)
            middle = time.perf_counter()
            legacy = import_legacy(folder, engine, rejects_path=rejects)
            finished = time.perf_counter()
        finally:
            engine.dispose()
    krx_result = next(iter(krx.files.values()))
    legacy_result = legacy.files["daily_prices.csv"]

    def figures(result: Any, seconds: float) -> dict[str, Any]:
        prices = result.tables["daily_prices"]
        return {
            "rows": result.read,
            "seconds": round(seconds, 3),
            "prices_inserted": prices.inserted,
            "prices_updated": prices.updated,
            "prices_unchanged": prices.unchanged,
            "verified": result.found == result.keys,
        }

    return {
        "rows": krx_result.read + legacy_result.read,
        "seconds": finished - started,
        "krx_csv": figures(krx_result, middle - started),
        "legacy_daily_prices": figures(legacy_result, finished - middle),
        "ok": krx.ok and legacy.ok,
    }


def one_round(
    url: str,
    krx_dir: Path,
    legacy_prices: Path,
    baseline_rows: int,
    batched_rows: int,
    commit_rows: int,
) -> dict[str, Any]:
    """The baseline, the context figures and the bulk path, back to back (same conditions)."""
    base_rows, base_seconds = orm_baseline(url, krx_dir, baseline_rows, flush_each=True)
    batched = orm_baseline(url, krx_dir, batched_rows) if batched_rows else None
    per_commit = orm_baseline(url, krx_dir, commit_rows, commit_each=True) if commit_rows else None
    bulk = bulk_path(url, krx_dir, legacy_prices)
    return {
        "rows": bulk["rows"],
        "seconds": bulk["seconds"],
        "rows_per_s": bulk["rows"] / bulk["seconds"],
        "baseline_rows": base_rows,
        "baseline_seconds": base_seconds,
        "baseline_rows_per_s": base_rows / base_seconds,
        "batched_orm_rows_per_s": batched[0] / batched[1] if batched else None,
        "commit_per_row_rows_per_s": per_commit[0] / per_commit[1] if per_commit else None,
        "imports": {k: bulk[k] for k in ("krx_csv", "legacy_daily_prices")},
        "verified": bulk["ok"],
    }


def summarize(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds; the speed-ups are ratios of those medians."""

    def median(key: str) -> float | None:
        values = [m[key] for m in measured if m[key] is not None]
        return statistics.median(values) if values else None

    rows_per_s = median("rows_per_s")
    baseline = median("baseline_rows_per_s")
    batched = median("batched_orm_rows_per_s")
    per_commit = median("commit_per_row_rows_per_s")
    assert rows_per_s is not None and baseline is not None
    speedup = rows_per_s / baseline
    middle = min(measured, key=lambda m: abs(m["rows_per_s"] - rows_per_s))
    return {
        "rows": measured[0]["rows"],
        "seconds": round(statistics.median(m["seconds"] for m in measured), 3),
        "rows_per_s": round(rows_per_s),
        "baseline_rows": measured[0]["baseline_rows"],
        "baseline_seconds": round(statistics.median(m["baseline_seconds"] for m in measured), 3),
        "baseline_rows_per_s": round(baseline),
        "baseline": "row-by-row ORM insert: session.add + flush per DailyPrice row "
        "(one INSERT per row), one commit",
        "speedup": round(speedup, 1),
        "rounds": len(measured),
        "per_round": [
            {
                "rows_per_s": round(m["rows_per_s"]),
                "baseline_rows_per_s": round(m["baseline_rows_per_s"]),
                "speedup": round(m["rows_per_s"] / m["baseline_rows_per_s"], 1),
            }
            for m in measured
        ],
        "batched_orm_rows_per_s": round(batched) if batched else None,
        "commit_per_row_rows_per_s": round(per_commit) if per_commit else None,
        "speedup_vs_commit_per_row": round(rows_per_s / per_commit, 1) if per_commit else None,
        "speedup_vs_batched_orm": round(rows_per_s / batched, 1) if batched else None,
        "targets": {"rows_per_s": TARGET_ROWS_PER_S, "speedup": TARGET_SPEEDUP},
        "meets_targets": rows_per_s >= TARGET_ROWS_PER_S and speedup >= TARGET_SPEEDUP,
        "imports": middle["imports"],
        "verified": all(m["verified"] for m in measured),
    }


def _clear(url: str) -> None:
    """Empty what a round wrote (the database was empty before the bench)."""
    from sqlalchemy import text

    from krstock.db.session import make_engine

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE daily_prices, stocks CASCADE"))
    finally:
        engine.dispose()


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("ingest")
    def ingest(
        as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
        krx_dir: Path = typer.Option(DEFAULT_KRX, "--krx-dir", help="pykrx CSV folder."),
        legacy_prices: Path = typer.Option(
            DEFAULT_PRICES, "--legacy-prices", help="A Gen1 daily_prices.csv."
        ),
        database_url: str | None = typer.Option(
            None,
            "--database-url",
            help="An empty, migrated database to use instead of a scratch one (it keeps the rows).",
        ),
        admin_url: str = typer.Option(
            DEFAULT_ADMIN, "--admin-url", help="Superuser URL used to create the scratch database."
        ),
        baseline_rows: int = typer.Option(
            2_000, "--baseline-rows", help="Rows of the row-by-row ORM baseline."
        ),
        commit_rows: int = typer.Option(
            1_000, "--commit-rows", help="Rows of the commit-per-row context figure (0: skip)."
        ),
        batched_rows: int = typer.Option(
            5_000,
            "--batched-rows",
            help="Rows of the batched-ORM context figure (0: skip).",
        ),
        rounds: int = typer.Option(
            5,
            "--rounds",
            min=1,
            help="Rounds of baseline + bulk path; figures are medians (the machines are shared).",
        ),
    ) -> None:
        """Bulk import throughput (rows/s) and its speed-up over row-by-row ORM inserts."""
        for path in (krx_dir, legacy_prices):
            if not path.exists():
                stderr_console.print(f"[red]error:[/red] {path} does not exist")
                raise typer.Exit(2)

        def run(url: str) -> dict[str, Any]:
            measured = []
            for number in range(1, rounds + 1):
                if number > 1:
                    _clear(url)
                measured.append(
                    one_round(url, krx_dir, legacy_prices, baseline_rows, batched_rows, commit_rows)
                )
                stderr_console.print(
                    f"round {number}/{rounds}: {measured[-1]['rows_per_s']:,.0f} rows/s, "
                    f"baseline {measured[-1]['baseline_rows_per_s']:,.0f} rows/s"
                )
            return summarize(measured)

        if database_url:
            if not _is_empty(database_url):
                stderr_console.print(
                    "[red]error:[/red] --database-url must name an empty, migrated database "
                    "(the bench truncates daily_prices after its baseline); omit it to use a "
                    "scratch database",
                    soft_wrap=True,
                )
                raise typer.Exit(2)
            figures = run(database_url)
        else:
            with scratch_database(admin_url) as url:
                figures = run(url)
        if as_json:
            emit_json(figures)
        else:
            for key in ("rows", "seconds", "rows_per_s", "baseline_rows_per_s", "speedup"):
                typer.echo(f"{key}: {figures[key]}")
            typer.echo(
                f"meets targets (>= {TARGET_ROWS_PER_S:,} rows/s, >= {TARGET_SPEEDUP}x): "
                f"{figures['meets_targets']}"
            )
