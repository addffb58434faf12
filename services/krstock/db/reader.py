"""Read the market as arrays: set-based queries, parsed with numpy (no Python step per row).

``load_market_window`` returns the whole universe (or given tickers) over the last ``days``
trading dates up to ``end``, where the trading dates are the distinct dates in ``daily_prices``.
Prices and investor flows leave PostgreSQL as plain table rows in two ``COPY (query) TO STDOUT
(FORMAT binary)`` streams, read from libpq as they arrive (:func:`copy_binary`) and parsed into
numpy columns a block of rows at a time while the server is still sending (:class:`CopyStream`);
cells are placed by index arithmetic (the ticker's row through a hashed index of uint64 ticker
keys, the date's column through a lookup table). The scans' small reads (market gate, news,
tracking state) are here too, so the app layer holds no SQL of its own.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from select import POLLIN, POLLOUT, poll
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import psycopg
from psycopg import pq, sql
from psycopg.pq.abc import PGconn, PGresult
from sqlalchemy import Connection, select, text

from krstock.db.models import MarketGateSnapshot, NewsItem, Signal
from krstock.db.timescale import distinct_trading_days
from krstock.domain.market import MarketWindow, SeriesWindow

ONE_DAY = timedelta(days=1)
T = TypeVar("T")
KST = ZoneInfo("Asia/Seoul")

# Stock flags exposed in MarketWindow.flags (key: stocks column).
FLAG_COLUMNS = {
    "etf": "is_etf",
    "etn": "is_etn",
    "spac": "is_spac",
    "reit": "is_reit",
    "preferred": "is_preferred",
}

# The last N distinct dates up to :end by a loose index scan on ix_daily_prices_date_ticker:
# one index probe per date (~2 ms for 260 dates), where SELECT DISTINCT date ... LIMIT n reads
# every index entry of those dates (~75 ms for 2,500 tickers on PostgreSQL 15, no skip scan).
_TRADING_DAYS = text(
    """
    WITH RECURSIVE trading_days(date, n) AS (
        (SELECT date, 1 FROM daily_prices WHERE date <= :end ORDER BY date DESC LIMIT 1)
        UNION ALL
        SELECT (SELECT p.date FROM daily_prices p WHERE p.date < d.date
                ORDER BY p.date DESC LIMIT 1), d.n + 1
        FROM trading_days d
        WHERE d.n < :days AND d.date IS NOT NULL
    )
    SELECT date FROM trading_days WHERE date IS NOT NULL ORDER BY date
    """
)
# The same dates by one DISTINCT pass over the dates from :start, used on TimescaleDB
# hypertables: on compressed chunks each probe of the loose index scan decompresses batches
# again (3.6 s for 260 dates with 2,500 tickers on 2.28); this reads each chunk once, and
# :start keeps chunks older than the window out of the plan.
_TRADING_DAYS_DISTINCT = text(
    """
    SELECT date FROM (
        SELECT DISTINCT date FROM daily_prices WHERE date <= :end AND date >= :start
        ORDER BY date DESC LIMIT :days
    ) recent
    ORDER BY date
    """
)
# Calendar days that surely hold ``days`` KRX trading days (~1.47 per trading day, plus the
# longest holiday runs); when they do not (a short history), the query runs unbounded.
_EARLIEST = date(1900, 1, 1)


def _calendar_span(days: int) -> timedelta:
    return timedelta(days=days * 3 // 2 + 30)


# ---------------------------------------------------------------------------------------------
# Binary COPY, parsed with numpy
# ---------------------------------------------------------------------------------------------
# The format: an 11-byte signature, int32 flags, int32 header-extension length and the
# extension; per row an int16 field count, then per field an int32 length (-1: NULL) and that
# many bytes; at the end int16 -1. All big-endian.
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_TRAILER = b"\xff\xff"
_PG_EPOCH = np.datetime64("2000-01-01", "D")  # a binary date is int32 days since then
# Wire dtype of each fixed-width type a field may have ("text" is variable: UTF-8 bytes).
_WIRE: dict[str, np.dtype[Any]] = {
    "int2": np.dtype(">i2"),
    "int4": np.dtype(">i4"),
    "int8": np.dtype(">i8"),
    "float8": np.dtype(">f8"),
    "bool": np.dtype("u1"),
    "date": np.dtype(">i4"),
}
_TYPES = (*_WIRE, "text")


@dataclass(frozen=True)
class CopyColumn:
    """One field of every row: ``values`` (int16, int32 or int64 as the field's type, float64,
    bool, datetime64[D] or bytes) and ``null``, True where the field was NULL (its value is
    then 0, False, NaT or b"")."""

    values: np.ndarray
    null: npt.NDArray[np.bool_]

    def as_float(self) -> npt.NDArray[np.float64]:
        """The values as float64 with NaN where NULL."""
        out = self.values.astype(np.float64)
        out[self.null] = np.nan
        return out


def _malformed(reason: str) -> ValueError:
    return ValueError(f"malformed binary COPY data: {reason}")


def _header_length(data: bytes | bytearray) -> int:
    """Where the rows start: after the signature, the flags and the header extension."""
    if len(data) < len(_SIGNATURE) + 8 or data[: len(_SIGNATURE)] != _SIGNATURE:
        raise _malformed("no PGCOPY signature")
    flags, extension = struct.unpack_from(">ii", data, len(_SIGNATURE))
    if flags >> 16:  # bits 16-31 are critical (16: OIDs included); a reader must stop
        raise _malformed(f"unsupported header flags {flags:#x}")
    return len(_SIGNATURE) + 8 + extension


def _row_bounds(
    message_ends: npt.NDArray[np.int64], rows_start: int, rows_end: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(starts, ends) of the rows in consecutive CopyData messages, from where the messages
    end and the span of the rows (after the header, before the trailer).

    The server sends one message per row; the header rides in the first message and the
    trailer has its own, so message ends clipped to the rows, without repeats, are row ends.
    """
    ends = np.minimum(message_ends, rows_end)
    ends = ends[ends > rows_start]
    ends = ends[np.r_[True, ends[1:] != ends[:-1]]] if len(ends) else ends
    starts = np.concatenate([[rows_start], ends[:-1]])[: len(ends)].astype(np.int64)
    return starts, ends


def _gather(buf: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], dtype: np.dtype) -> np.ndarray:
    """One ``dtype`` value at each byte offset in ``at`` (no alignment needed)."""
    chars = buf[at[:, None] + np.arange(dtype.itemsize)]
    return chars.view(dtype)[:, 0]


def _gather_text(
    buf: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], length: npt.NDArray[np.int64]
) -> np.ndarray:
    """The ``length`` bytes at each offset in ``at``, as a bytes array as wide as the longest
    (meant for short codes such as tickers: every row takes that width)."""
    width = max(int(length.max(initial=0)), 1)
    offsets = np.arange(width)
    index = np.minimum(at[:, None] + offsets, len(buf) - 1)
    chars = np.where(offsets < length[:, None], buf[index], 0).astype(np.uint8)
    return chars.view(f"S{width}")[:, 0]


def _walk_fields(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    count: int,
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """(value offset, length) of each field in every row, one vectorized step per field."""
    if np.any(starts + 2 > ends) or np.any(_gather(buf, starts, np.dtype(">i2")) != count):
        raise _malformed(f"rows must have {count} fields")
    at = starts + 2
    fields = []
    for _ in range(count):
        if np.any(at + 4 > ends):
            raise _malformed("a row ends inside a field")
        length = _gather(buf, at, np.dtype(">i4")).astype(np.int64)
        if np.any(length < -1):
            raise _malformed("negative field length")
        fields.append((at + 4, length))
        at = at + 4 + np.maximum(length, 0)
        if np.any(at > ends):
            raise _malformed("a row ends inside a field")
    if np.any(at != ends):
        raise _malformed("a row has bytes after its last field")
    return fields


def _strided(
    buf: npt.NDArray[np.uint8], dtype: np.dtype[Any] | str, first: int, stride: int, n: int
) -> np.ndarray:
    """A view of one ``dtype`` value every ``stride`` bytes from ``first`` (no copy)."""
    return np.ndarray((n,), dtype=dtype, buffer=buf, offset=first, strides=(stride,))


# Uniform rows are checked and copied out a block at a time: a block (~3 MB) stays in cache
# across its twenty strided passes, where whole-buffer passes would each re-read it from memory.
_BLOCK_ROWS = 32768


def _first_row_layout(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    count: int,
) -> list[tuple[int, int]] | None:
    """(offset in the row, length) of each field of the first row when every row has the
    first row's size, else None."""
    if len(starts) == 0 or np.any(ends - starts != ends[0] - starts[0]):
        return None
    base = int(starts[0])
    fields = _walk_fields(buf, starts[:1], ends[:1], count)
    return [(int(at[0]) - base, int(length[0])) for at, length in fields]


def _wire_dtype(kind: str, length: int) -> np.dtype[Any]:
    """The dtype of a ``kind`` field of ``length`` bytes on the wire (-1: NULL)."""
    if kind == "text":
        return np.dtype(f"S{max(length, 1)}")
    dtype = _WIRE[kind]
    if length not in (-1, dtype.itemsize):
        raise _malformed(f"a {kind} field of {length} bytes")
    return dtype


def _copy_uniform(
    buf: npt.NDArray[np.uint8],
    kinds: Sequence[str],
    layout: list[tuple[int, int]],
    first: int,
    size: int,
    n: int,
) -> list[CopyColumn] | None:
    """The columns when every row is laid out like the first (the usual case: no NULL,
    fixed-width text), else None.

    Rows of the same size whose field count and field lengths are the first row's have its
    layout, so each field is a strided view of the buffer: no gather, no walk."""
    dtypes = [_wire_dtype(kind, length) for kind, (_, length) in zip(kinds, layout, strict=True)]
    wires = [np.zeros(n, dtype=dtype.newbyteorder("=")) for dtype in dtypes]
    for lo in range(0, n, _BLOCK_ROWS):
        rows, base = min(_BLOCK_ROWS, n - lo), first + lo * size
        if np.any(_strided(buf, ">i2", base, size, rows) != len(kinds)):
            return None
        for (offset, length), dtype, wire in zip(layout, dtypes, wires, strict=True):
            if np.any(_strided(buf, ">i4", base + offset - 4, size, rows) != length):
                return None
            if length > 0:
                wire[lo : lo + rows] = _strided(buf, dtype, base + offset, size, rows)
    return [
        _decode(kind, wire, np.full(n, length < 0))
        for kind, wire, (_, length) in zip(kinds, wires, layout, strict=True)
    ]


def _decode(kind: str, wire: np.ndarray, null: npt.NDArray[np.bool_]) -> CopyColumn:
    """A column from its wire values (a new array; numbers in either byte order)."""
    values: np.ndarray
    if kind == "text":
        values = wire
        values[null] = b""
    elif kind == "date":
        values = _PG_EPOCH + wire.astype(np.int64).astype("timedelta64[D]")
        values[null] = np.datetime64("NaT")
    elif kind == "bool":
        values = wire != 0
        values[null] = False
    else:
        values = wire.astype(wire.dtype.newbyteorder("="), copy=False)
        values[null] = 0
    return CopyColumn(values, null)


def _walked_column(
    buf: npt.NDArray[np.uint8],
    kind: str,
    at: npt.NDArray[np.int64],
    length: npt.NDArray[np.int64],
) -> CopyColumn:
    null = length < 0
    if kind == "text":
        return _decode(kind, _gather_text(buf, at, np.maximum(length, 0)), null)
    dtype = _WIRE[kind]
    if np.any(length[~null] != dtype.itemsize):
        raise _malformed(f"a {kind} field that is not {dtype.itemsize} bytes")
    wire = np.zeros(len(at), dtype=dtype)
    wire[~null] = _gather(buf, at[~null], dtype)  # a NULL has no bytes to read
    return _decode(kind, wire, null)


def _parse_rows(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    types: Sequence[str],
) -> list[CopyColumn]:
    """The columns of the rows at [starts, ends) of ``buf``: strided views when they are laid
    out alike, else a vectorized walk of their fields."""
    layout = _first_row_layout(buf, starts, ends, len(types))
    if layout is not None:
        size, first = int(ends[0] - starts[0]), int(starts[0])
        columns = _copy_uniform(buf, types, layout, first, size, len(starts))
        if columns is not None:
            return columns
    fields = _walk_fields(buf, starts, ends, len(types))
    return [
        _walked_column(buf, kind, at, length)
        for kind, (at, length) in zip(types, fields, strict=True)
    ]


def _no_rows(kind: str) -> CopyColumn:
    values = np.zeros(0, dtype=np.dtype("S1") if kind == "text" else _WIRE[kind])
    return _decode(kind, values, np.zeros(0, dtype=bool))


def concatenate_columns(
    blocks: Sequence[list[CopyColumn]], types: Sequence[str]
) -> list[CopyColumn]:
    """The columns of consecutive blocks of rows as one block."""
    if not blocks:
        return [_no_rows(kind) for kind in types]
    if len(blocks) == 1:
        return blocks[0]
    return [
        CopyColumn(
            np.concatenate([block[i].values for block in blocks]),
            np.concatenate([block[i].null for block in blocks]),
        )
        for i in range(len(types))
    ]


class CopyStream(Generic[T]):
    """A binary COPY stream parsed a block of rows at a time, as its messages arrive.

    Each block's columns go to ``digest`` and its result is kept in ``digested``. Parsed while
    the server is still sending, a block costs nothing: a client that keeps up waits for the
    server about half of the time of a 640,000-row read.
    """

    def __init__(self, types: Sequence[str], digest: Callable[[list[CopyColumn]], T]) -> None:
        unknown = [t for t in types if t not in _TYPES]
        if unknown:
            raise ValueError(f"unknown field types {unknown}; known: {list(_TYPES)}")
        self.types = tuple(types)
        self.digest = digest
        self.digested: list[T] = []
        self._messages = 0  # messages parsed
        self._offset = 0  # where the next message starts in the data
        self._rows_start: int | None = None  # where the header ends

    def parse_block(self, data: bytearray, sizes: array[int], *, final: bool = False) -> bool:
        """Parse the next block of rows received (``data``: the messages so far, ``sizes``:
        their sizes); False when there is none. Before the end (``final`` False) only a full
        block is parsed, and the last message waits: it may be the trailer."""
        ready = len(sizes) - self._messages - (0 if final else 1)
        if ready <= 0 or (not final and ready < _BLOCK_ROWS):
            return False
        if self._rows_start is None:
            self._rows_start = _header_length(data)
        count = min(ready, _BLOCK_ROWS)
        taken = np.array(sizes[self._messages : self._messages + count], dtype=np.int64)
        message_ends = self._offset + np.cumsum(taken)
        rows_end = len(data) - len(_TRAILER) if final else int(message_ends[-1])
        rows_start = max(self._offset, self._rows_start)
        starts, ends = _row_bounds(message_ends, rows_start, rows_end)
        if len(starts):
            first = int(starts[0])
            # A copy of the block: ``data`` keeps growing, which a view of it would forbid.
            block = np.frombuffer(data[first : int(ends[-1])], dtype=np.uint8)
            self.digested.append(
                self.digest(_parse_rows(block, starts - first, ends - first, self.types))
            )
        self._messages += count
        self._offset = int(message_ends[-1])
        return True

    def finish(self, data: bytearray, sizes: array[int]) -> list[T]:
        """Parse what is left once every message has arrived; the digests of every block."""
        if sum(sizes) != len(data):
            raise _malformed("message sizes do not add up to the data")
        if len(data) < len(_TRAILER) or data[-len(_TRAILER) :] != _TRAILER:
            raise _malformed("no trailer")
        if self._rows_start is None:
            self._rows_start = _header_length(data)
        if self._rows_start > len(data) - len(_TRAILER):
            raise _malformed("the header runs into the trailer")
        parsed = True
        while parsed:  # block after block until every row is parsed
            parsed = self.parse_block(data, sizes, final=True)
        return self.digested


def parse_copy_binary(
    data: bytes | bytearray, message_sizes: Sequence[int], types: Sequence[str]
) -> list[CopyColumn]:
    """The columns of a whole ``COPY ... TO STDOUT (FORMAT binary)`` stream, one per ``types``
    entry (int2, int4, int8, float8, bool, date or text, as the query selects them).

    ``message_sizes`` are the sizes of the CopyData messages the stream arrived in (the protocol
    sends one per row): they give the row boundaries, so rows of any shape (NULLs, text of any
    length) are parsed without a Python step per row. Raises ValueError when the data does not
    have that shape.
    """
    stream: CopyStream[list[CopyColumn]] = CopyStream(types, lambda columns: columns)
    blocks = stream.finish(bytearray(data), array("q", message_sizes))
    return concatenate_columns(blocks, types)


def _raw(conn: Connection) -> psycopg.Connection[Any]:
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("the reader needs a psycopg 3 connection (postgresql+psycopg://)")
    return driver


def _wait(pgconn: PGconn, event: int) -> None:
    """Block until the connection's socket is readable (``POLLIN``) or writable."""
    poller = poll()
    poller.register(pgconn.socket, event)
    poller.poll()


def _next_result(pgconn: PGconn) -> PGresult | None:
    """libpq's next result, waiting on the socket (not inside libpq) while it is not ready."""
    while pgconn.is_busy():
        _wait(pgconn, POLLIN)
        pgconn.consume_input()
    return pgconn.get_result()


def _drain_results(pgconn: PGconn) -> None:
    """Read and drop the results left, so the connection is ready for its next command."""
    result = _next_result(pgconn)
    while result is not None:
        result = _next_result(pgconn)


def _finish(pgconn: PGconn, result: PGresult | None, expected: pq.ExecStatus) -> None:
    """Read the results left (the connection is then ready for the next command) and raise
    PostgreSQL's error when ``result`` is not ``expected``."""
    _drain_results(pgconn)
    if result is None or result.status != expected:
        if result is not None and result.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(result)
        status = "no result" if result is None else pq.ExecStatus(result.status).name
        raise psycopg.OperationalError(f"COPY TO STDOUT: {status}, expected {expected.name}")


def _receive(pgconn: PGconn, data: bytearray, sizes: array[int], idle: Callable[[], bool]) -> None:
    """Append the CopyData messages to ``data`` and their sizes to ``sizes`` until the end of
    the COPY; whenever none is buffered, run ``idle`` (work that can fill the wait) and wait
    for the socket only when it did nothing."""
    get, size = pgconn.get_copy_data, sizes.append
    while True:
        n, message = get(1)  # 1: do not block inside libpq (a signal could not interrupt it)
        if n > 0:
            data += message
            size(n)
        elif n == 0:
            if not idle():
                _wait(pgconn, POLLIN)
                pgconn.consume_input()
        else:
            return


def _abandon(raw: psycopg.Connection[Any]) -> None:
    """After an exception in the middle of a COPY: cancel it and read what is left, so the
    connection can roll back; close it when even that fails."""
    pgconn = raw.pgconn
    try:
        raw.cancel_safe()
        _receive(pgconn, bytearray(), array("q"), lambda: False)
        _drain_results(pgconn)
    except Exception:
        raw.close()


def copy_binary(conn: Connection, query: sql.Composable, stream: CopyStream[T]) -> list[T]:
    """Run ``COPY (query) TO STDOUT (FORMAT binary)`` in ``conn``'s transaction into
    ``stream`` (parsed block by block while the rows arrive); the digests of its blocks.

    The messages are taken from libpq through ``raw.pgconn`` (psycopg's low-level access) as
    they arrive: psycopg's ``Copy`` resumes two generators and a wait per message, which for
    640,000 rows costs about what PostgreSQL takes to send them, and leaves no wait to parse
    in. PostgreSQL's errors are raised as psycopg's.
    """
    # Through SQLAlchemy: it begins the transaction if none is open, so it will roll it back.
    # No JIT: compiling costs more than it saves on a plain range scan. This transaction only.
    conn.exec_driver_sql("SELECT set_config('jit', 'off', true)")
    raw = _raw(conn)
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(query).as_bytes(raw)
    pgconn = raw.pgconn
    pgconn.send_query(statement)
    while pgconn.flush():  # the connection is non-blocking: the query may take several writes
        _wait(pgconn, POLLOUT)
    started = _next_result(pgconn)
    if started is None or started.status != pq.ExecStatus.COPY_OUT:
        _finish(pgconn, started, pq.ExecStatus.COPY_OUT)
    data, sizes = bytearray(), array("q")
    try:
        _receive(pgconn, data, sizes, lambda: stream.parse_block(data, sizes))
    except BaseException:
        _abandon(raw)
        raise
    _finish(pgconn, _next_result(pgconn), pq.ExecStatus.COMMAND_OK)
    return stream.finish(data, sizes)


# ---------------------------------------------------------------------------------------------
# The market window
# ---------------------------------------------------------------------------------------------
# The rows a window reads, as stored: prices over the window's dates, flows over the flow dates.
_PRICES = """
SELECT ticker, date, open, high, low, close, volume, trading_value, halted
FROM daily_prices
WHERE date BETWEEN {lo} AND {hi} {price_tickers}
"""
_PRICE_TYPES = ("text", "date", "int8", "int8", "int8", "int8", "int8", "int8", "bool")
_PRICE_FIELDS = ("open", "high", "low", "close", "volume", "trading_value")  # fields 2-7

# The investor as a small code keeps flow rows fixed-width: 1 foreign, 2 institution, 0 other
# (rows of other investors still bring their ticker into the universe).
_FLOWS = """
SELECT ticker, date,
       CASE investor WHEN 'foreign' THEN 1 WHEN 'institution' THEN 2 ELSE 0 END::int2,
       net_volume, net_value
FROM investor_flows
WHERE date BETWEEN {flow_lo} AND {hi} {flow_tickers}
"""
_FLOW_TYPES = ("text", "date", "int2", "int8", "int8")
_FLOW_FIELDS = {
    1: ("foreign_net_shares", "foreign_net_krw"),
    2: ("inst_net_shares", "inst_net_krw"),
}

_WINDOW_FIELDS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trading_value",
    "foreign_net_shares",
    "inst_net_shares",
    "foreign_net_krw",
    "inst_net_krw",
)


@dataclass(frozen=True)
class WindowReads:
    """What a window reads: its dates and the row sets (None when there is nothing to read)."""

    dates: npt.NDArray[np.datetime64]
    prices: sql.Composable | None
    flows: sql.Composable | None


def trading_days(conn: Connection, end: date, days: int) -> np.ndarray:
    """The last ``days`` distinct dates of ``daily_prices`` up to ``end`` (datetime64[D]):
    a loose index scan, or one date-bounded DISTINCT pass on a TimescaleDB hypertable."""
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    params: dict[str, Any] = {"end": end, "days": days}
    if not distinct_trading_days(conn):
        found = conn.execute(_TRADING_DAYS, params).scalars().all()
        return np.array(found, dtype="datetime64[D]")
    found = (
        conn.execute(_TRADING_DAYS_DISTINCT, {**params, "start": end - _calendar_span(days)})
        .scalars()
        .all()
    )
    if len(found) < days:
        found = conn.execute(_TRADING_DAYS_DISTINCT, {**params, "start": _EARLIEST}).scalars().all()
    return np.array(found, dtype="datetime64[D]")


def _ticker_filter(tickers: Sequence[str] | None) -> sql.Composable:
    if tickers is None:
        return sql.SQL("")
    return sql.SQL("AND ticker = ANY({})").format(sql.Literal(list(tickers)))


def window_reads(
    conn: Connection,
    end: date,
    days: int,
    tickers: Sequence[str] | None = None,
    *,
    flow_days: int | None = None,
) -> WindowReads:
    """The dates and the two row sets ``load_market_window`` reads (arguments alike)."""
    if flow_days is not None and flow_days < 0:
        raise ValueError(f"flow_days must be >= 0, got {flow_days}")
    dates = trading_days(conn, end, days)
    if tickers is not None:
        bad = [t for t in tickers if not isinstance(t, str) or len(t) != 6]
        if bad:
            raise ValueError(f"tickers must be 6-character KRX codes, got {bad[:5]}")
    if len(dates) == 0:
        return WindowReads(dates, None, None)
    hi = sql.Literal(dates[-1].item())
    prices = sql.SQL(_PRICES).format(
        lo=sql.Literal(dates[0].item()), hi=hi, price_tickers=_ticker_filter(tickers)
    )
    flow_from = 0 if flow_days is None else max(0, len(dates) - flow_days)
    if flow_from == len(dates):  # flow_days=0: no flow row is read
        return WindowReads(dates, prices, None)
    flows = sql.SQL(_FLOWS).format(
        flow_lo=sql.Literal(dates[flow_from].item()), hi=hi, flow_tickers=_ticker_filter(tickers)
    )
    return WindowReads(dates, prices, flows)


def _ticker_keys(tickers: np.ndarray) -> np.ndarray:
    """Tickers (UTF-8 bytes) as keys that sort like them, hence like the str (UTF-8 keeps code
    point order): the bytes zero-padded to 8 and read as a big-endian uint64 (hashed and
    compared as one integer), or the bytes themselves when wider than 8."""
    width = tickers.dtype.itemsize
    if width > 8:
        return tickers
    padded = np.zeros((len(tickers), 8), dtype=np.uint8)
    padded[:, :width] = tickers.view(np.uint8).reshape(len(tickers), width)
    return padded.view(">u8")[:, 0].astype(np.uint64)


def _keys_as_bytes(keys: np.ndarray) -> np.ndarray:
    return keys.astype(">u8").view("S8") if keys.dtype == np.uint64 else keys


class _DateColumns:
    """The column of a day in the window's ``dates`` (ascending), -1 when it is not one of them
    (e.g. flows on a day without prices): a lookup table over the dates' span."""

    def __init__(self, dates: npt.NDArray[np.datetime64]) -> None:
        self.first = dates[0]
        self.slot = np.full(int((dates[-1] - self.first).astype(np.int64)) + 1, -1, dtype=np.intp)
        self.slot[(dates - self.first).astype(np.int64)] = np.arange(len(dates))

    def __call__(self, days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.intp]:
        offset = (days - self.first).astype(np.int64)
        inside = (offset >= 0) & (offset < len(self.slot))
        columns = np.full(len(days), -1, dtype=np.intp)
        columns[inside] = self.slot[offset[inside]]
        return columns


@dataclass(frozen=True)
class _Cells:
    """Rows of a block bound for the same window fields: their ticker keys, their date
    columns and, per field, their values."""

    keys: np.ndarray
    columns: npt.NDArray[np.intp]
    values: dict[str, np.ndarray]


@dataclass(frozen=True)
class _Block:
    """A block of rows read, digested while the COPY runs: the distinct tickers of all its
    rows (they make the universe, even off the window's dates) and its cells to place."""

    tickers: np.ndarray
    cells: list[_Cells]


def _block_rows(
    columns: list[CopyColumn], dates: _DateColumns
) -> tuple[np.ndarray, np.ndarray, npt.NDArray[np.intp], npt.NDArray[np.bool_] | slice]:
    """(distinct ticker keys, ticker key and date column of the rows on a window date, which
    rows those are) of a block whose first two fields are ticker and date."""
    keys = _ticker_keys(columns[0].values)
    column = dates(columns[1].values)
    on_a_date = column >= 0
    keep: npt.NDArray[np.bool_] | slice = slice(None) if on_a_date.all() else on_a_date
    return pd.unique(keys), keys[keep], column[keep], keep


def _price_block(dates: _DateColumns, prices: list[CopyColumn]) -> _Block:
    distinct, keys, column, keep = _block_rows(prices, dates)
    values: dict[str, np.ndarray] = {
        field: prices[i].as_float()[keep] for i, field in enumerate(_PRICE_FIELDS, start=2)
    }
    halted = prices[8]
    values["halted"] = (halted.values & ~halted.null)[keep]
    return _Block(distinct, [_Cells(keys, column, values)])


def _flow_block(dates: _DateColumns, flows: list[CopyColumn]) -> _Block:
    distinct, keys, column, keep = _block_rows(flows, dates)
    investor = flows[2].values[keep]
    shares, krw = flows[3].as_float()[keep], flows[4].as_float()[keep]
    cells = []
    for code, (shares_field, krw_field) in _FLOW_FIELDS.items():
        mine = investor == code
        values = {shares_field: shares[mine], krw_field: krw[mine]}
        cells.append(_Cells(keys[mine], column[mine], values))
    return _Block(distinct, cells)


def _read(
    conn: Connection,
    query: sql.Composable | None,
    types: Sequence[str],
    digest: Callable[[list[CopyColumn]], _Block],
) -> list[_Block]:
    return [] if query is None else copy_binary(conn, query, CopyStream(types, digest))


def _universe(
    blocks: list[_Block], tickers: Sequence[str] | None
) -> tuple[npt.NDArray[np.str_], pd.Index, bool]:
    """The sorted tickers of every row read and of ``tickers`` (str), a hashed index of their
    keys, and whether those keys are bytes (some ticker wider than 8 bytes) or uint64."""
    requested = _ticker_keys(np.array([t.encode() for t in tickers or []], dtype=np.bytes_))
    keys = [block.tickers for block in blocks] + [requested]
    wide = any(k.dtype != np.uint64 for k in keys if len(k))
    if wide:
        keys = [_keys_as_bytes(k) for k in keys]
    # Distinct by hashing, then sorted: twice as fast as np.unique's sort of every key.
    distinct = np.sort(pd.unique(np.concatenate(keys)))
    text = [k.decode() for k in _keys_as_bytes(distinct).tolist()]
    return np.array(text, dtype=str), pd.Index(distinct), wide


def _empty_window(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    arrays = {field: np.full(shape, np.nan) for field in _WINDOW_FIELDS}
    arrays["halted"] = np.zeros(shape, dtype=bool)
    return arrays


def _place(
    arrays: dict[str, np.ndarray], blocks: list[_Block], universe: pd.Index, wide: bool
) -> None:
    """Write every block's values into their (ticker × date) cells."""
    width = arrays["close"].shape[1]
    for block in blocks:
        for cells in block.cells:
            keys = _keys_as_bytes(cells.keys) if wide else cells.keys
            flat = universe.get_indexer(pd.Index(keys)) * width + cells.columns
            for field, values in cells.values.items():
                arrays[field].reshape(-1)[flat] = values


def _stock_attributes(
    conn: Connection, tickers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    flag_sql = ", ".join(FLAG_COLUMNS.values())
    rows = conn.execute(
        text(f"SELECT ticker, name, market, {flag_sql} FROM stocks WHERE ticker = ANY(:t)"),
        {"t": [str(t) for t in tickers]},
    ).all()
    names = np.full(len(tickers), "", dtype=object)
    markets = np.full(len(tickers), "UNKNOWN", dtype=object)
    flags = {key: np.zeros(len(tickers), dtype=bool) for key in FLAG_COLUMNS}
    if rows:
        # One row per listed stock (a few thousand): place them by sorted index, not a dict walk.
        found = np.array([r[0] for r in rows])
        at = np.searchsorted(tickers, found)
        names[at] = [r[1] for r in rows]
        markets[at] = [r[2] for r in rows]
        for i, key in enumerate(FLAG_COLUMNS):
            flags[key][at] = [bool(r[3 + i]) for r in rows]
    return names, markets, flags


def load_market_window(
    conn: Connection,
    end: date,
    days: int,
    tickers: Sequence[str] | None = None,
    *,
    flow_days: int | None = None,
) -> MarketWindow:
    """The last ``days`` trading dates up to ``end`` for every ticker (or ``tickers``).

    Tickers are sorted; requested tickers without any row are kept as all-NaN rows. A cell with
    no row is NaN (flows too: never 0); ``halted`` is False there. ``flow_days`` reads investor
    flows only for the last that many dates (the engines' longest flow window is 60 days; flows
    are most of the rows), leaving earlier flow cells NaN; None reads them for every date.
    """
    reads = window_reads(conn, end, days, tickers, flow_days=flow_days)
    dates = reads.dates
    blocks: list[_Block] = []
    if len(dates):
        columns_of = _DateColumns(dates)
        blocks += _read(conn, reads.prices, _PRICE_TYPES, partial(_price_block, columns_of))
        blocks += _read(conn, reads.flows, _FLOW_TYPES, partial(_flow_block, columns_of))
    universe, index, wide = _universe(blocks, tickers)
    arrays = _empty_window((len(universe), len(dates)))
    _place(arrays, blocks, index, wide)
    names, markets, flags = _stock_attributes(conn, universe)
    return MarketWindow(
        tickers=universe,
        dates=dates,
        names=names,
        markets=markets,
        flags=flags,
        **arrays,
    )


_SERIES = text(
    """
    SELECT code, date, close, high, low, volume FROM (
        SELECT code, date, close, high, low, volume,
               row_number() OVER (PARTITION BY code ORDER BY date DESC) AS age
        FROM index_prices
        WHERE code = ANY(:codes) AND date <= :end
    ) recent
    WHERE age <= :days
    ORDER BY code, date
    """
)


def _floats(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def load_series(
    conn: Connection, codes: Sequence[str], end: date, days: int
) -> dict[str, SeriesWindow]:
    """The last ``days`` rows up to ``end`` of each index/ETF series in ``index_prices``.

    Each code keeps its own dates; a code without rows maps to an empty series.
    """
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    rows = conn.execute(_SERIES, {"codes": list(codes), "end": end, "days": days}).all()
    out: dict[str, SeriesWindow] = {}
    for code in codes:
        mine = [r for r in rows if r[0] == code]
        out[code] = SeriesWindow(
            code=code,
            dates=np.array([r[1] for r in mine], dtype="datetime64[D]"),
            close=_floats([r[2] for r in mine]),
            high=_floats([r[3] for r in mine]),
            low=_floats([r[4] for r in mine]),
            volume=_floats([r[5] for r in mine]),
        )
    return out


def load_fx(conn: Connection, pair: str, end: date, days: int) -> SeriesWindow:
    """The last ``days`` closes of an FX pair (e.g. USDKRW, KRW per USD) up to ``end``."""
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    rows = conn.execute(
        text(
            "SELECT date, rate FROM (SELECT date, rate FROM fx_rates "
            "WHERE pair = :pair AND date <= :end ORDER BY date DESC LIMIT :days) recent "
            "ORDER BY date"
        ),
        {"pair": pair, "end": end, "days": days},
    ).all()
    return SeriesWindow(
        code=pair,
        dates=np.array([r[0] for r in rows], dtype="datetime64[D]"),
        close=_floats([r[1] for r in rows]),
    )


# ---------------------------------------------------------------------------------------------
# The scans' small reads
# ---------------------------------------------------------------------------------------------
def gate_status(conn: Connection, day: date, policy_name: str) -> str | None:
    """The market gate's status (e.g. GREEN, RED) on ``day`` under ``policy_name``, or None
    when no snapshot was taken."""
    return conn.execute(
        select(MarketGateSnapshot.status).where(
            MarketGateSnapshot.date == day, MarketGateSnapshot.policy_name == policy_name
        )
    ).scalar()


def recent_news(
    conn: Connection,
    day: date,
    tickers: Sequence[str],
    lookback_days: int,
    per_ticker: int = 3,
) -> dict[str, list[dict[str, Any]]]:
    """Headlines of ``tickers`` published in the ``lookback_days`` KST calendar days up to
    ``day``: per ticker the top ``per_ticker`` by source credibility (unknown last), then most
    recent, as {title, source ("" if unknown), published_at (KST ISO 8601, "" if unknown),
    url}. Tickers without news are absent (one query)."""
    if not tickers:
        return {}
    start = datetime.combine(day - timedelta(days=lookback_days - 1), time.min, tzinfo=KST)
    end = datetime.combine(day + ONE_DAY, time.min, tzinfo=KST)
    rows = conn.execute(
        select(
            NewsItem.ticker, NewsItem.title, NewsItem.source, NewsItem.published_at, NewsItem.url
        )
        .where(
            NewsItem.ticker.in_(list(tickers)),
            NewsItem.published_at >= start,
            NewsItem.published_at < end,
        )
        .order_by(
            NewsItem.ticker, NewsItem.credibility.desc().nulls_last(), NewsItem.published_at.desc()
        )
    ).all()
    news: dict[str, list[dict[str, Any]]] = {}
    for ticker, title, source, published_at, url in rows:
        items = news.setdefault(ticker, [])
        if len(items) < per_ticker:
            items.append(
                {
                    "title": title,
                    "source": source or "",
                    "published_at": published_at.astimezone(KST).isoformat()
                    if published_at
                    else "",
                    "url": url,
                }
            )
    return news


def tracking_state(
    conn: Connection, strategy: str, day: date
) -> dict[str, tuple[str, float | None, int | None]]:
    """What the tracker wrote on the ``strategy`` signals of ``day`` that it follows (OPEN,
    CLOSED or CANCELLED): ticker -> (status, current_price, hold_days)."""
    rows = conn.execute(
        select(Signal.ticker, Signal.status, Signal.current_price, Signal.hold_days).where(
            Signal.strategy == strategy,
            Signal.signal_date == day,
            Signal.status.in_(("OPEN", "CLOSED", "CANCELLED")),
        )
    ).all()
    return {str(ticker): (status, price, hold) for ticker, status, price, hold in rows}
