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
Prints rows, rows_per_s, baseline_rows_per_s and speedup (a same-run ratio; absolute figures on
a shared machine are context only).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from krstock.commands._output import emit_json, stderr_console

DEFAULT_KRX = Path("../shared/data/krx-daily")
DEFAULT_PRICES = Path("../shared/data/legacy/daily_prices.csv")
DEFAULT_ADMIN = os.environ.get(
    "KRSTOCK_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TARGET_ROWS_PER_S = 100_000
TARGET_SPEEDUP = 50.0


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
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        started = time.perf_counter()
        with Session(engine) as session:
            for record in records:
                session.add(
                    DailyPrice(
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
                )
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
    ) -> None:
        """Bulk import throughput (rows/s) and its speed-up over row-by-row ORM inserts."""
        for path in (krx_dir, legacy_prices):
            if not path.exists():
                stderr_console.print(f"[red]error:[/red] {path} does not exist")
                raise typer.Exit(2)

        def run(url: str) -> dict[str, Any]:
            base_rows, base_seconds = orm_baseline(url, krx_dir, baseline_rows, flush_each=True)
            batched = orm_baseline(url, krx_dir, batched_rows) if batched_rows else None
            per_commit = (
                orm_baseline(url, krx_dir, commit_rows, commit_each=True) if commit_rows else None
            )
            bulk = bulk_path(url, krx_dir, legacy_prices)
            rows_per_s = bulk["rows"] / bulk["seconds"]
            baseline_rows_per_s = base_rows / base_seconds
            return {
                "rows": bulk["rows"],
                "seconds": round(bulk["seconds"], 3),
                "rows_per_s": round(rows_per_s),
                "baseline_rows": base_rows,
                "baseline_seconds": round(base_seconds, 3),
                "baseline_rows_per_s": round(baseline_rows_per_s),
                "baseline": "row-by-row ORM insert: session.add + flush per DailyPrice row "
                "(one INSERT per row), one commit",
                "speedup": round(rows_per_s / baseline_rows_per_s, 1),
                "batched_orm_rows_per_s": round(batched[0] / batched[1]) if batched else None,
                "commit_per_row_rows_per_s": round(per_commit[0] / per_commit[1])
                if per_commit
                else None,
                "speedup_vs_commit_per_row": round(rows_per_s / (per_commit[0] / per_commit[1]), 1)
                if per_commit
                else None,
                "speedup_vs_batched_orm": round(rows_per_s / (batched[0] / batched[1]), 1)
                if batched
                else None,
                "targets": {"rows_per_s": TARGET_ROWS_PER_S, "speedup": TARGET_SPEEDUP},
                "meets_targets": rows_per_s >= TARGET_ROWS_PER_S
                and rows_per_s / baseline_rows_per_s >= TARGET_SPEEDUP,
                "imports": {k: bulk[k] for k in ("krx_csv", "legacy_daily_prices")},
                "verified": bulk["ok"],
            }

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
