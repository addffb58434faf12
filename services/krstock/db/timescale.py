"""The TimescaleDB adapter: every TimescaleDB-only statement the application runs (the
migrations excepted, which must stay frozen) is built here.

- **Writes into compressed chunks** (``write_units``, ``CompressedLayout``): an ``UPDATE ... FROM
  staging`` join cannot tell TimescaleDB which compressed batches it touches, so it decompresses
  the whole hypertable and fails at ``timescaledb.max_tuples_decompressed_per_dml_transaction``.
  The bulk writer therefore splits its write into units with *literal* bounds: a date range
  (plan-time chunk exclusion keeps other chunks out of the plan) and, inside a compressed chunk,
  a literal list of segment values (``ticker = ANY('{...}')``, which TimescaleDB turns into
  batch filters, so only those segments' batches are decompressed). A unit's decompression is
  counted before it runs and kept under the server's limit; a chunk that would need more than
  ``MAX_BATCHES_PER_CHUNK`` units, or a segment larger than the limit, is rewritten as one
  explicit step instead: ``decompress_chunk`` → write → ``compress_chunk``. Touched chunks are
  recompressed at the end (segment-wise for partially compressed chunks). The limit is never
  raised.
- **Trading days** on compressed chunks (``trading_days_query_for``).
- **Maintenance** (``maintenance_jobs``, ``refresh_statements``, ``failing_jobs``): the policy
  jobs run in the foreground with ``CALL run_job`` (the scheduler's background workers fail on
  PostgreSQL 15), and the continuous aggregates are refreshed over the whole history once.

Plain PostgreSQL never reaches any statement here: every entry point first checks that the
extension is installed (``krstock.db.features``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Connection, text

log = logging.getLogger("krstock.db.timescale")

#: Segment values per literal list: small statements, each a bounded batch set.
SEGMENTS_PER_STATEMENT = 200
#: More units than this for one chunk (2,000 segments at the default): rewrite the chunk.
MAX_BATCHES_PER_CHUNK = 10
#: The TimescaleDB setting that bounds what one DML statement may decompress (0: no bound).
DECOMPRESSION_LIMIT_SETTING = "timescaledb.max_tuples_decompressed_per_dml_transaction"
#: TimescaleDB's own default when the setting cannot be read.
DEFAULT_DECOMPRESSION_LIMIT = 100_000


@dataclass(frozen=True)
class Chunk:
    """One chunk of a hypertable: ``[start, end)`` on its date dimension."""

    name: str  # schema-qualified, quoted as needed (regclass text)
    start: date
    end: date
    compressed: bool


@dataclass(frozen=True)
class CompressedLayout:
    """What a write into a hypertable with compressed chunks needs to know."""

    table: str
    time_column: str
    segment_by: tuple[str, ...]
    chunks: tuple[Chunk, ...]  # every chunk, ordered by start
    decompression_limit: int  # 0: unbounded

    @property
    def compressed(self) -> tuple[Chunk, ...]:
        return tuple(c for c in self.chunks if c.compressed)


@dataclass(frozen=True)
class WriteUnit:
    """One bounded write: rows with ``lo <= date < hi`` (None: open side) and, when
    ``segments`` is set, only rows whose ``segment_column`` is one of them. ``chunk`` is the
    compressed chunk the unit writes into (None for uncompressed ranges); ``rewrite`` means
    that chunk is decompressed first (and recompressed after); ``decompresses`` is the number
    of stored rows the unit may decompress (its segments' rows in the chunk)."""

    lo: date | None
    hi: date | None
    chunk: Chunk | None = None
    segment_column: str | None = None
    segments: tuple[str, ...] = ()
    rewrite: bool = False
    decompresses: int = 0


@dataclass(frozen=True)
class ChunkWrite:
    """How one compressed chunk was written: ``batches`` (literal segment lists) or
    ``rewrite`` (decompressed, written, recompressed), and the rows it could decompress."""

    chunk: str
    mode: str
    segments: int
    decompressed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "chunk": self.chunk,
            "mode": self.mode,
            "segments": self.segments,
            "decompressed": self.decompressed,
        }


# ---------------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------------


def _installed(cur: psycopg.Cursor[Any]) -> bool:
    cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    return cur.fetchone() is not None


def _decompression_limit(cur: psycopg.Cursor[Any]) -> int:
    cur.execute("SELECT current_setting(%s, true)", (DECOMPRESSION_LIMIT_SETTING,))
    row = cur.fetchone()
    try:
        return int(row[0]) if row and row[0] is not None else DEFAULT_DECOMPRESSION_LIMIT
    except ValueError:
        return DEFAULT_DECOMPRESSION_LIMIT


def compressed_layout(cur: psycopg.Cursor[Any], table: str) -> CompressedLayout | None:
    """The layout of ``table`` when it is a hypertable with at least one compressed chunk;
    None otherwise (plain PostgreSQL, a plain table, or nothing compressed yet), in which case
    the plain write path is right."""
    if not _installed(cur):
        return None
    cur.execute(
        "SELECT format('%%I.%%I', chunk_schema, chunk_name), primary_dimension, "
        "(range_start AT TIME ZONE 'UTC')::date, (range_end AT TIME ZONE 'UTC')::date, "
        "is_compressed FROM timescaledb_information.chunks "
        "WHERE hypertable_schema = current_schema() AND hypertable_name = %s "
        "ORDER BY range_start",
        (table,),
    )
    rows = cur.fetchall()
    if not any(r[4] for r in rows):
        return None
    cur.execute(
        "SELECT attname FROM timescaledb_information.compression_settings "
        "WHERE hypertable_schema = current_schema() AND hypertable_name = %s "
        "AND segmentby_column_index IS NOT NULL ORDER BY segmentby_column_index",
        (table,),
    )
    segment_by = tuple(str(r[0]) for r in cur.fetchall())
    return CompressedLayout(
        table=table,
        time_column=str(rows[0][1]),
        segment_by=segment_by,
        chunks=tuple(Chunk(str(r[0]), r[2], r[3], bool(r[4])) for r in rows),
        decompression_limit=_decompression_limit(cur),
    )


# ---------------------------------------------------------------------------------------------
# Planning a write (pure: unit-tested without TimescaleDB)
# ---------------------------------------------------------------------------------------------


def uncompressed_ranges(chunks: Sequence[Chunk]) -> list[tuple[date | None, date | None]]:
    """The date ranges between compressed chunks (open at both ends), where a write meets no
    compressed chunk: ``[None, c1.start), [c1.end, c2.start), ..., [cn.end, None)``; empty
    ranges are left out."""
    ranges: list[tuple[date | None, date | None]] = []
    lo: date | None = None
    for chunk in sorted((c for c in chunks if c.compressed), key=lambda c: c.start):
        if lo is None or lo < chunk.start:
            ranges.append((lo, chunk.start))
        lo = chunk.end if lo is None else max(lo, chunk.end)
    ranges.append((lo, None))
    return ranges


def touches_compressed(layout: CompressedLayout, first: date | None, last: date | None) -> bool:
    """Whether days ``first..last`` (inclusive; None: unknown) meet a compressed chunk."""
    if first is None or last is None:
        return True
    return any(c.start <= last and first < c.end for c in layout.compressed)


def _in_range(day: date, lo: date | None, hi: date | None) -> bool:
    return (lo is None or day >= lo) and (hi is None or day < hi)


def plan_units(
    layout: CompressedLayout,
    rows: Iterable[tuple[date, str]],
    stored: dict[tuple[str, str], int],
    *,
    per_statement: int = SEGMENTS_PER_STATEMENT,
    max_batches: int = MAX_BATCHES_PER_CHUNK,
) -> list[WriteUnit]:
    """The write units for rows given as (date, segment value) pairs.

    ``stored`` holds, per (chunk name, segment value), the stored rows of that segment in that
    chunk: what writing into it decompresses. Rows outside compressed chunks become one unit
    per uncompressed range they fall in. Rows in a compressed chunk become units of at most
    ``per_statement`` segments whose decompression stays within the layout's limit; a chunk
    needing more than ``max_batches`` units, or holding a segment bigger than the limit, is
    rewritten as one unit."""
    segments_by_chunk: dict[str, set[str]] = {}
    open_days: set[date] = set()
    compressed = layout.compressed
    for day, segment in rows:
        home = next((c for c in compressed if c.start <= day < c.end), None)
        if home is None:
            open_days.add(day)
        else:
            segments_by_chunk.setdefault(home.name, set()).add(segment)
    units = [
        WriteUnit(lo, hi)
        for lo, hi in uncompressed_ranges(layout.chunks)
        if any(_in_range(d, lo, hi) for d in open_days)
    ]
    limit = layout.decompression_limit
    column = layout.segment_by[0] if layout.segment_by else None
    for chunk in compressed:
        segments = sorted(segments_by_chunk.get(chunk.name, ()))
        if not segments:
            continue
        sizes = [stored.get((chunk.name, s), 0) for s in segments]
        batches = [] if column is None else _batches(segments, sizes, per_statement, limit)
        if batches is None or not batches or len(batches) > max_batches:
            units.append(
                WriteUnit(chunk.start, chunk.end, chunk, rewrite=True, decompresses=sum(sizes))
            )
            continue
        for batch, need in batches:
            units.append(WriteUnit(chunk.start, chunk.end, chunk, column, batch, False, need))
    return units


def _batches(
    segments: list[str], sizes: list[int], per_statement: int, limit: int
) -> list[tuple[tuple[str, ...], int]] | None:
    """Consecutive segment lists of at most ``per_statement`` values and ``limit`` stored rows
    (0: no row bound); None when one segment alone is over the limit."""
    out: list[tuple[tuple[str, ...], int]] = []
    batch: list[str] = []
    need = 0
    for segment, size in zip(segments, sizes, strict=True):
        if limit and size > limit:
            return None
        if batch and (len(batch) >= per_statement or (limit and need + size > limit)):
            out.append((tuple(batch), need))
            batch, need = [], 0
        batch.append(segment)
        need += size
    if batch:
        out.append((tuple(batch), need))
    return out


def unit_filter(unit: WriteUnit, time_column: str, alias: str) -> sql.Composable:
    """The literal conditions of ``unit`` on ``alias`` (``TRUE`` when it has none). Literals,
    not parameters or a join: TimescaleDB narrows chunks and batches only on constants."""
    column = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(time_column))
    parts: list[sql.Composable] = []
    if unit.lo is not None:
        parts.append(sql.SQL("{} >= {}").format(column, sql.Literal(unit.lo)))
    if unit.hi is not None:
        parts.append(sql.SQL("{} < {}").format(column, sql.Literal(unit.hi)))
    if unit.segment_column is not None and unit.segments:
        parts.append(
            sql.SQL("{}.{} = ANY({}::text[])").format(
                sql.Identifier(alias),
                sql.Identifier(unit.segment_column),
                sql.Literal(list(unit.segments)),
            )
        )
    if not parts:
        return sql.SQL("TRUE")
    return sql.SQL(" AND ").join(parts)


def decompress_statement(chunk: Chunk) -> sql.Composed:
    return sql.SQL("SELECT decompress_chunk({}::regclass, if_compressed => true)").format(
        sql.Literal(chunk.name)
    )


def compress_statement(chunk: Chunk) -> sql.Composed:
    """Compress again; a partially compressed chunk is recompressed segment by segment."""
    return sql.SQL("SELECT compress_chunk({}::regclass, if_not_compressed => true)").format(
        sql.Literal(chunk.name)
    )


# ---------------------------------------------------------------------------------------------
# Running a write
# ---------------------------------------------------------------------------------------------


def stored_segment_rows(
    cur: psycopg.Cursor[Any],
    layout: CompressedLayout,
    diff: str,
) -> tuple[list[tuple[date, str]], dict[tuple[str, str], int]]:
    """The (date, segment) pairs of the rows in ``diff`` and, for those in compressed chunks,
    how many rows each (chunk, segment) stores (a read: reads have no decompression limit,
    and the segment filter keeps it to those segments' batches)."""
    time_column = sql.Identifier(layout.time_column)
    segment = sql.Identifier(layout.segment_by[0]) if layout.segment_by else None
    pick = segment if segment is not None else sql.SQL("''")
    cur.execute(
        sql.SQL("SELECT DISTINCT {t}, {s}::text FROM {d}").format(
            t=time_column, s=pick, d=sql.Identifier(diff)
        )
    )
    rows = [(r[0], r[1]) for r in cur.fetchall()]
    stored: dict[tuple[str, str], int] = {}
    if segment is None:
        return rows, stored
    for chunk in layout.compressed:
        wanted = sorted({s for d, s in rows if chunk.start <= d < chunk.end})
        if not wanted:
            continue
        cur.execute(
            sql.SQL(
                "SELECT {s}::text, count(*) FROM {t} WHERE {tc} >= {lo} AND {tc} < {hi} "
                "AND {s} = ANY({wanted}::text[]) GROUP BY 1"
            ).format(
                s=segment,
                t=sql.Identifier(layout.table),
                tc=time_column,
                lo=sql.Literal(chunk.start),
                hi=sql.Literal(chunk.end),
                wanted=sql.Literal(wanted),
            )
        )
        for value, count in cur.fetchall():
            stored[(chunk.name, value)] = int(count)
    return rows, stored


def chunk_writes(units: Sequence[WriteUnit]) -> list[ChunkWrite]:
    """Per compressed chunk, how the units wrote it (for the import report)."""
    out: dict[str, ChunkWrite] = {}
    for unit in units:
        if unit.chunk is None:
            continue
        seen = out.get(unit.chunk.name)
        mode = "rewrite" if unit.rewrite else "batches"
        segments = len(unit.segments) + (seen.segments if seen else 0)
        decompressed = unit.decompresses + (seen.decompressed if seen else 0)
        out[unit.chunk.name] = ChunkWrite(unit.chunk.name, mode, segments, decompressed)
    return list(out.values())


def before_unit(cur: psycopg.Cursor[Any], unit: WriteUnit) -> None:
    """A rewrite unit's explicit, logged decompression of its chunk."""
    if unit.rewrite and unit.chunk is not None:
        log.info(
            "rewriting compressed chunk %s: decompress, write, recompress (%d stored rows "
            "in the changed segments)",
            unit.chunk.name,
            unit.decompresses,
        )
        cur.execute(decompress_statement(unit.chunk))


def recompress(cur: psycopg.Cursor[Any], units: Sequence[WriteUnit]) -> None:
    """Compress every chunk the units wrote into again (segment-wise where partial)."""
    done: set[str] = set()
    for unit in units:
        if unit.chunk is None or unit.chunk.name in done:
            continue
        done.add(unit.chunk.name)
        log.info("recompressing chunk %s", unit.chunk.name)
        cur.execute(compress_statement(unit.chunk))


# ---------------------------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------------------------


def has_compressed_chunks(cur: psycopg.Cursor[Any], table: str) -> bool:
    """True when ``table`` is a hypertable with a compressed chunk (False without TimescaleDB)."""
    if not _installed(cur):
        return False
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM timescaledb_information.chunks "
        "WHERE hypertable_schema = current_schema() AND hypertable_name = %s AND is_compressed)",
        (table,),
    )
    row = cur.fetchone()
    return bool(row and row[0])


def distinct_trading_days(conn: Connection) -> bool:
    """Whether the trading-days lookup should be one DISTINCT pass: ``daily_prices`` is a
    hypertable. Measured on 2.28 (300 tickers x 370 days): uncompressed chunks 2.7 ms (loose
    index scan 11 ms); compressed chunks 98 ms unbounded (loose 121 ms; 3.6 s with 2,500
    tickers). On plain PostgreSQL the loose index scan stays (3 ms vs 122 ms for 2,500
    tickers)."""
    installed = conn.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    if installed is None:
        return False
    found = conn.execute(
        text(
            "SELECT 1 FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = current_schema() AND hypertable_name = 'daily_prices'"
        )
    ).scalar()
    return found is not None


def chunk_relations(cur: psycopg.Cursor[Any], table: str) -> set[str]:
    """The chunk table names of ``table`` (uncompressed and compressed), for reading plans."""
    if not _installed(cur):
        return set()
    cur.execute(
        "SELECT c.chunk_name, coalesce(cc.relname, '') FROM timescaledb_information.chunks c "
        "LEFT JOIN _timescaledb_catalog.chunk ch "
        "ON ch.schema_name = c.chunk_schema AND ch.table_name = c.chunk_name "
        "LEFT JOIN _timescaledb_catalog.chunk cch ON cch.id = ch.compressed_chunk_id "
        "LEFT JOIN pg_class cc ON cc.relname = cch.table_name "
        "WHERE c.hypertable_schema = current_schema() AND c.hypertable_name = %s",
        (table,),
    )
    names: set[str] = set()
    for chunk, compressed in cur.fetchall():
        names.add(str(chunk))
        if compressed:
            names.add(str(compressed))
    return names


# ---------------------------------------------------------------------------------------------
# Maintenance
# ---------------------------------------------------------------------------------------------

#: The policy procedures ``krstock db maintain`` runs, in this order: aggregates first (they
#: read uncompressed chunks faster), then compression.
MAINTENANCE_PROCS = ("policy_refresh_continuous_aggregate", "policy_compression")


@dataclass(frozen=True)
class Job:
    job_id: int
    proc_name: str
    target: str


def maintenance_jobs(cur: psycopg.Cursor[Any]) -> list[Job]:
    """The policy jobs to run in the foreground, aggregates before compression."""
    cur.execute(
        "SELECT job_id, proc_name, coalesce(hypertable_name, '') FROM timescaledb_information.jobs "
        "WHERE proc_schema = '_timescaledb_functions' AND proc_name = ANY(%s) "
        "ORDER BY array_position(%s::text[], proc_name::text), job_id",
        (list(MAINTENANCE_PROCS), list(MAINTENANCE_PROCS)),
    )
    return [Job(int(r[0]), str(r[1]), str(r[2])) for r in cur.fetchall()]


def run_job_statement(job: Job) -> sql.Composed:
    """``CALL run_job`` (autocommit: the job commits itself)."""
    return sql.SQL("CALL run_job({})").format(sql.Literal(job.job_id))


def continuous_aggregates(cur: psycopg.Cursor[Any]) -> list[str]:
    cur.execute(
        "SELECT view_name FROM timescaledb_information.continuous_aggregates "
        "WHERE view_schema = current_schema() ORDER BY view_name"
    )
    return [str(r[0]) for r in cur.fetchall()]


def refresh_statement(view: str, end: date | None = None) -> sql.Composed:
    """Refresh ``view`` over the whole history up to ``end`` (None: everything). The refresh
    policy covers only recent months; imported history is materialized by this once (later
    calls recompute only buckets whose rows changed)."""
    return sql.SQL("CALL refresh_continuous_aggregate({}, NULL, {})").format(
        sql.Literal(view), sql.Literal(end)
    )


def history_end(today: date) -> date:
    """Refresh up to yesterday, as the policy's ``end_offset`` of one day does."""
    return today - timedelta(days=1)


@dataclass(frozen=True)
class FailingJob:
    job_id: int
    proc_name: str
    target: str
    total_failures: int
    last_run_status: str | None
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "proc_name": self.proc_name,
            "target": self.target,
            "total_failures": self.total_failures,
            "last_run_status": self.last_run_status,
            "last_error": self.last_error,
        }


def failing_jobs(cur: psycopg.Cursor[Any]) -> list[FailingJob]:
    """Background jobs whose last run failed ([] without TimescaleDB)."""
    if not _installed(cur):
        return []
    cur.execute(
        "SELECT s.job_id, j.proc_name, coalesce(j.hypertable_name, ''), "
        "coalesce(s.total_failures, 0), s.last_run_status, "
        "(SELECT e.err_message FROM timescaledb_information.job_errors e "
        " WHERE e.job_id = s.job_id ORDER BY e.start_time DESC LIMIT 1) "
        "FROM timescaledb_information.job_stats s "
        "JOIN timescaledb_information.jobs j ON j.job_id = s.job_id "
        "WHERE s.last_run_status = 'Failed' ORDER BY s.job_id"
    )
    return [
        FailingJob(int(r[0]), str(r[1]), str(r[2]), int(r[3]), r[4], r[5]) for r in cur.fetchall()
    ]


@dataclass(frozen=True)
class MaintenanceStep:
    """One foreground step of ``run_maintenance``: what ran, on what, how long, and the error
    when it failed."""

    action: str  # "refresh_history" or the job's procedure name
    target: str
    seconds: float
    error: str | None = None
    job_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.action,
            "target": self.target,
            "seconds": self.seconds,
            "ok": self.error is None,
        }
        if self.job_id is not None:
            out["job_id"] = self.job_id
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class MaintenanceReport:
    timescaledb: bool
    steps: tuple[MaintenanceStep, ...] = ()

    @property
    def ok(self) -> bool:
        return all(step.error is None for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "timescaledb": self.timescaledb,
            "steps": [step.as_dict() for step in self.steps],
        }


def _step(
    conn: psycopg.Connection[Any], statement: sql.Composed, action: str, target: str, **kw: Any
) -> MaintenanceStep:
    started = time.perf_counter()
    error: str | None = None
    try:
        conn.execute(statement)
    except psycopg.Error as exc:
        error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.error("maintenance: %s on %s failed: %s", action, target, error)
    seconds = round(time.perf_counter() - started, 3)
    if error is None:
        log.info("maintenance: %s on %s took %.3f s", action, target, seconds)
    return MaintenanceStep(action, target, seconds, error, **kw)


def run_maintenance(url: str, today: date) -> MaintenanceReport:
    """Run TimescaleDB's upkeep in the foreground (the scheduler's background workers fail on
    PostgreSQL 15; ``CALL`` works): first every continuous aggregate is refreshed over the
    whole history up to yesterday (the policy covers three months; the first call materializes
    imported history, later calls only buckets whose rows changed), then each refresh and
    compression policy job with ``CALL run_job``. A failed step is reported and the others
    still run. Without TimescaleDB: ``timescaledb=False`` and no step."""
    from krstock.db.session import libpq_url

    steps: list[MaintenanceStep] = []
    # CALL run_job and refresh_continuous_aggregate cannot run inside a transaction block.
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        with conn.cursor() as cur:
            if not _installed(cur):
                return MaintenanceReport(timescaledb=False)
            views = continuous_aggregates(cur)
            jobs = maintenance_jobs(cur)
        end = history_end(today)
        for view in views:
            steps.append(_step(conn, refresh_statement(view, end), "refresh_history", view))
        for job in jobs:
            steps.append(
                _step(conn, run_job_statement(job), job.proc_name, job.target, job_id=job.job_id)
            )
    return MaintenanceReport(timescaledb=True, steps=tuple(steps))
