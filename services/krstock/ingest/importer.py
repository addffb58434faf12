"""Running an import: parse every file, write each in its own transaction, verify, report.

All parsing happens before any write, so a file that cannot be parsed never touches the
database. Each file is then written in one transaction (its stock rows first, then its tables);
a database error rolls back that file only. ``dry_run`` does the same inside one outer
transaction that is rolled back at the end, so the would-be inserted/updated counts and the
verification are exact and nothing is kept. Without an engine only parsing happens.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from krstock.db.bulk import (
    UpdateRules,
    UpsertCounts,
    bulk_upsert,
    bulk_upsert_parts,
    count_existing,
)
from krstock.ingest.report import (
    FileResult,
    ImportSummary,
    default_rejects_path,
    write_rejects,
)
from krstock.ingest.stocks import existing_stocks, merge_stocks
from krstock.marketdata.base import SourceError
from krstock.marketdata.krx_csv import (
    DERIVED_PRICE_COLUMNS,
    KrxFolder,
    folder_chunks,
    read_files,
)
from krstock.marketdata.legacy import ParsedFile, data_folder, discover, parse_path
from krstock.marketdata.legacy_io import FileFormatError, Reject

log = logging.getLogger("krstock.ingest")
Progress = Callable[[str], None]
REQUIRED_TABLES = (
    "stocks", "daily_prices", "investor_flows", "investor_flow_summaries",
    "signals", "scan_runs", "ai_analyses",
)  # fmt: skip


# pykrx files give no value for some days' change rate: that is not news to overwrite with.
KRX_CSV_RULES = UpdateRules(keep_on_null=DERIVED_PRICE_COLUMNS)


class ImportSetupError(RuntimeError):
    """The import cannot start (missing folder, no importable file)."""


@dataclass
class LegacyImportSummary(ImportSummary):
    """The summary plus ``flagged``: rows kept whose numbers cannot be right, per file."""

    flagged: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["flagged"] = {
            name: {"rows": len(rows), "by_flag": _count_flags(rows), "items": rows}
            for name, rows in self.flagged.items()
        }
        return body


def _count_flags(rows: list[dict[str, Any]]) -> dict[str, int]:
    return dict(collections.Counter(flag for row in rows for flag in row["flags"]))


def _log_chunks(name: str, tables: dict[str, UpsertCounts]) -> None:
    """Which compressed TimescaleDB chunks a file's write went into (none on plain PostgreSQL)."""
    for table, counts in tables.items():
        for chunk in counts.chunks:
            log.info(
                "import: %s: %s chunk %s written (%s, %d segments, up to %d rows decompressed)",
                name,
                table,
                chunk.chunk,
                chunk.mode,
                chunk.segments,
                chunk.decompressed,
            )


def _write_stocks(conn: Connection, stocks: pd.DataFrame, mode: str) -> UpsertCounts:
    if stocks.empty:
        return UpsertCounts(0, 0, 0)
    stored = existing_stocks(conn, list(stocks["ticker"]))
    return bulk_upsert(conn, "stocks", merge_stocks(stocks, stored, mode), ["ticker"])


def _write_parsed(conn: Connection, parsed: ParsedFile) -> dict[str, UpsertCounts]:
    counts = {"stocks": _write_stocks(conn, parsed.stocks, parsed.stock_mode)}
    for rows in parsed.tables:
        rules = UpdateRules(rows.precision, rows.provenance, rows.keep_on_null)
        counts[rows.table] = bulk_upsert(conn, rows.table, rows.frame, rows.keys, rules)
    return counts


def _drop_superseded(parsed: list[ParsedFile]) -> dict[str, int]:
    """Rows whose key a later file also has are not written from the earlier file (the later
    file wins), so a re-run does not flip the row back and forth. Returns counts per file."""
    superseded: dict[str, int] = {}
    later: dict[str, pd.MultiIndex] = {}
    for item in reversed(parsed):
        for rows in item.tables:
            index = pd.MultiIndex.from_frame(rows.frame[rows.keys])
            seen = later.get(rows.table)
            if seen is not None and len(index):
                mask = index.isin(seen)
                if mask.any():
                    if rows.table == item.verify:
                        superseded[item.file] = int(mask.sum())
                    rows.frame = rows.frame.loc[~mask].reset_index(drop=True)
            later[rows.table] = index if seen is None else seen.append(index)
    return superseded


@contextmanager
def _connection(engine: Engine | None, dry_run: bool) -> Iterator[Connection | None]:
    """A connection; for a dry run wrapped in an outer transaction that is rolled back."""
    if engine is None:
        yield None
        return
    with engine.connect() as conn:
        missing = [
            table
            for table in REQUIRED_TABLES
            if conn.exec_driver_sql("SELECT to_regclass(%s)", (table,)).scalar() is None
        ]
        conn.rollback()
        if missing:
            raise ImportSetupError(
                f"the database has no {', '.join(missing)} table: run `krstock db upgrade` first"
            )
        if not dry_run:
            yield conn
            return
        outer = conn.begin()
        try:
            yield conn
        finally:
            outer.rollback()


@contextmanager
def _file_transaction(conn: Connection, dry_run: bool) -> Iterator[None]:
    """All-or-nothing per file: a transaction, or a savepoint inside the dry run's outer one."""
    if dry_run:
        with conn.begin_nested():
            yield
    else:
        with conn.begin():
            yield


def _verify_keys(parsed: ParsedFile) -> pd.DataFrame:
    rows = parsed.table(parsed.verify)
    return rows.frame[rows.keys].drop_duplicates().reset_index(drop=True)


def import_legacy(
    root: Path,
    engine: Engine | None,
    *,
    dry_run: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    on_start: Callable[[int], None] | None = None,
) -> LegacyImportSummary:
    """Import a monolith ``data/`` folder (or its parent). ``engine`` None: parse only."""
    if not root.is_dir():
        raise ImportSetupError(f"{root} is not a folder")
    folder = data_folder(root)
    found, skipped = discover(root)
    if not found:
        raise ImportSetupError(f"{folder}: no monolith data files (e.g. daily_prices.csv) found")
    if on_start is not None:
        on_start(2 * len(found))  # one step to parse each file, one to write it
    parsed: list[ParsedFile] = []
    failed: dict[str, str] = {}
    rejects: list[Reject] = []
    for relative, parser in found:
        try:
            item = parse_path(folder, relative, parser)
        except FileFormatError as exc:
            failed[relative] = str(exc)
            log.error("import: %s not imported: %s", relative, exc)
            if progress is not None:
                progress(f"failed {relative}")  # its write step will not happen
            continue
        finally:
            if progress is not None:
                progress(f"parsed {relative}")
        parsed.append(item)
        rejects.extend(item.rejects)
        log.info(
            "import: parsed %s (%s): %d rows, %d rejected",
            relative,
            item.layout,
            item.read,
            len(item.rejects),
        )
    verify_keys = {item.file: _verify_keys(item) for item in parsed}
    superseded = _drop_superseded(parsed)
    results = {
        item.file: FileResult(
            name=item.file,
            read=item.read,
            rejected=len(item.rejects),
            duplicates=item.duplicates,
            superseded=superseded.get(item.file, 0),
            main_table=item.verify,
            keys=len(verify_keys[item.file]),
        )
        for item in parsed
    }
    with _connection(engine, dry_run) as conn:
        for item in parsed:
            if conn is not None:
                try:
                    with _file_transaction(conn, dry_run):
                        results[item.file].tables = _write_parsed(conn, item)
                        _log_chunks(item.file, results[item.file].tables)
                except (SQLAlchemyError, psycopg.Error, ValueError) as exc:
                    failed[item.file] = f"database write failed, file rolled back: {exc}"
                    log.error("import: %s rolled back: %s", item.file, exc)
                    del results[item.file]
            if progress is not None:
                progress(f"wrote {item.file}")
        if conn is not None:
            for name, result in results.items():
                result.found = count_existing(conn, result.main_table, verify_keys[name])
    path = rejects_path or default_rejects_path("legacy")
    write_rejects(path, rejects, failed)
    for item in parsed:
        if item.flagged:
            log.warning(
                "import: %s: %d rows kept but flagged (see flagged in the summary)",
                item.file,
                len(item.flagged),
            )
    return LegacyImportSummary(
        files=results,
        rejects_file=str(path),
        failed=failed,
        skipped=skipped,
        dry_run=dry_run,
        database=engine is not None,
        flagged={item.file: item.flagged for item in parsed if item.flagged},
    )


def import_krx_csv(
    folder: Path,
    engine: Engine | None,
    *,
    dry_run: bool = False,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import a pykrx CSV folder: one transaction for the whole folder (a file that cannot be
    read is left out and reported in ``failed``). The folder is read in parts of 100 files that
    stream into the database while the next part is parsed (``bulk_upsert_parts``).
    ``on_start`` gets the number of progress steps: one per part, one for the verification."""
    try:
        chunks = folder_chunks(folder)
    except SourceError as exc:
        raise ImportSetupError(str(exc)) from exc
    if on_start is not None:
        on_start(len(chunks) + 1)
    files = sum(len(chunk) for chunk in chunks)
    read: list[KrxFolder] = []

    def read_next() -> Iterator[pd.DataFrame]:
        """Parts not read yet, in order; each is kept in ``read`` for the report."""
        while len(read) < len(chunks):
            read.append(read_files(chunks[len(read)], folder.name))
            if progress is not None:
                progress(f"read {sum(len(c) for c in chunks[: len(read)])} of {files} files")
            yield read[-1].prices

    name = folder.name or str(folder)
    failed: dict[str, str] = {}
    tables: dict[str, UpsertCounts] = {}
    with _connection(engine, dry_run) as conn:
        if conn is not None:
            try:
                with _file_transaction(conn, dry_run):
                    written = bulk_upsert_parts(
                        conn, "daily_prices", read_next(), ["ticker", "date"], KRX_CSV_RULES
                    )
                    stocks = _write_stocks(conn, KrxFolder.merge(read).stocks, "fill")
                    tables = {"stocks": stocks, "daily_prices": written}
                    _log_chunks(name, tables)
            except (SQLAlchemyError, psycopg.Error, ValueError) as exc:
                failed[name] = f"database write failed, folder rolled back: {exc}"
                log.error("import: %s rolled back: %s", name, exc)
        # What the write did not get to (without a database: everything), for the report.
        collections.deque(read_next(), maxlen=0)
        data = KrxFolder.merge(read)
        if all(report.error for report in data.files.values()):
            raise ImportSetupError(
                f"krx-csv: no readable file in {folder}: "
                + "; ".join(r.error or "" for r in data.files.values())
            )
        keys = data.prices[["ticker", "date"]]
        found = count_existing(conn, "daily_prices", keys) if conn is not None else None
        if progress is not None:
            progress("verified")
    failed = {**data.failures, **failed}
    result = FileResult(
        name=name,
        read=data.read,
        rejected=len(data.rejects),
        duplicates=data.duplicates,
        main_table="daily_prices",
        tables=tables,
        keys=len(keys),
        found=found,
    )
    path = rejects_path or default_rejects_path("krx-csv")
    write_rejects(path, data.rejects, failed)
    return ImportSummary(
        files={name: result},
        rejects_file=str(path),
        failed=failed,
        dry_run=dry_run,
        database=engine is not None,
    )
