"""Read the market as arrays: set-based queries, parsed with numpy (no Python step per row).

``load_market_window`` returns the whole universe (or given tickers) over the last ``days``
trading dates up to ``end``, where the trading dates are the distinct dates in ``daily_prices``.
Prices and investor flows leave PostgreSQL as plain table rows in two ``COPY (query) TO STDOUT
(FORMAT binary)`` streams; :func:`parse_copy_binary` turns each stream into numpy columns and the
cells are placed by index arithmetic (ticker row by ``np.searchsorted`` on the sorted universe,
date column by a lookup table). The scans' small reads (market gate, news, tracking state) are
here too, so the app layer holds no SQL of its own.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from sqlalchemy import Connection, select, text

from krstock.db.models import MarketGateSnapshot, NewsItem, Signal
from krstock.domain.market import MarketWindow, SeriesWindow

ONE_DAY = timedelta(days=1)
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
    """One field of every row: ``values`` (int64, float64, bool, datetime64[D] or bytes) and
    ``null``, True where the field was NULL (its value is then 0, False, NaT or b"")."""

    values: np.ndarray
    null: npt.NDArray[np.bool_]

    def as_float(self) -> npt.NDArray[np.float64]:
        """The values as float64 with NaN where NULL."""
        out = self.values.astype(np.float64)
        out[self.null] = np.nan
        return out


def _malformed(reason: str) -> ValueError:
    return ValueError(f"malformed binary COPY data: {reason}")


def _body_bounds(data: bytes | bytearray) -> tuple[int, int]:
    """Byte offsets where the rows start and end (after the header, before the trailer)."""
    if len(data) < len(_SIGNATURE) + 8 + len(_TRAILER) or data[: len(_SIGNATURE)] != _SIGNATURE:
        raise _malformed("no PGCOPY signature")
    flags, extension = struct.unpack_from(">ii", data, len(_SIGNATURE))
    if flags >> 16:  # bits 16-31 are critical (16: OIDs included); a reader must stop
        raise _malformed(f"unsupported header flags {flags:#x}")
    start = len(_SIGNATURE) + 8 + extension
    end = len(data) - len(_TRAILER)
    if start > end or data[end:] != _TRAILER:
        raise _malformed("no trailer")
    return start, end


def _row_bounds(
    message_sizes: npt.NDArray[np.int64], start: int, end: int, total: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(starts, ends) of the rows from the sizes of the CopyData messages they came in.

    The server sends one message per row; the header rides in the first message and the
    trailer in the last, so message ends clipped to the body, without repeats, are row ends.
    """
    if int(message_sizes.sum()) != total:
        raise _malformed("message sizes do not add up to the data")
    ends = np.minimum(np.cumsum(message_sizes), end)
    ends = ends[ends > start]
    ends = ends[np.r_[True, ends[1:] != ends[:-1]]] if len(ends) else ends
    starts = np.concatenate([[start], ends[:-1]])[: len(ends)].astype(np.int64)
    return starts, ends


def _gather(buf: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], dtype: np.dtype) -> np.ndarray:
    """One ``dtype`` value at each byte offset in ``at`` (no alignment needed)."""
    chars = buf[at[:, None] + np.arange(dtype.itemsize)]
    return chars.view(dtype)[:, 0]


def _gather_text(
    buf: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], length: npt.NDArray[np.int64]
) -> np.ndarray:
    """The ``length`` bytes at each offset in ``at``, as a fixed-width bytes array."""
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


# Uniform rows are checked and copied out a block at a time: a block (~0.8 MB) stays in cache
# across its twenty strided passes, where whole-buffer passes would each re-read it from memory.
_BLOCK_ROWS = 8192


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
    # A NULL has no bytes: read any in-row offset for it (the row's own) and zero it after.
    return _decode(kind, _gather(buf, np.where(null, at - 4, at), dtype), null)


def parse_copy_binary(
    data: bytes | bytearray, message_sizes: npt.ArrayLike, types: Sequence[str]
) -> list[CopyColumn]:
    """The columns of a ``COPY ... TO STDOUT (FORMAT binary)`` stream, one per ``types`` entry
    (int2, int4, int8, float8, bool, date or text, as the query selects them).

    ``message_sizes`` are the sizes of the CopyData messages the stream arrived in (the protocol
    sends one per row): they give the row boundaries, so rows of any shape (NULLs, text of any
    length) are parsed without a Python step per row. Raises ValueError when the data does not
    have that shape.
    """
    unknown = [t for t in types if t not in _TYPES]
    if unknown:
        raise ValueError(f"unknown field types {unknown}; known: {list(_TYPES)}")
    buf = np.frombuffer(data, dtype=np.uint8)
    start, end = _body_bounds(data)
    sizes = np.asarray(message_sizes, dtype=np.int64)
    starts, ends = _row_bounds(sizes, start, end, len(data))
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


def _raw(conn: Connection) -> psycopg.Connection[Any]:
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("the reader needs a psycopg 3 connection (postgresql+psycopg://)")
    return driver


def copy_binary(
    raw: psycopg.Connection[Any], query: sql.Composable
) -> tuple[bytearray, npt.NDArray[np.int64]]:
    """The bytes of ``COPY (query) TO STDOUT (FORMAT binary)`` and the size of each message."""
    data = bytearray()
    sizes: list[int] = []
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(query)
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for message in copy:
            data += message
            sizes.append(len(message))
    return data, np.array(sizes, dtype=np.int64)


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

# Both reads as one statement, with the same placeholders: for EXPLAIN (the date indexes of
# both tables); the reader itself copies _PRICES and _FLOWS apart.
_WINDOW = f"""
SELECT ticker, date FROM ({_PRICES}) prices
UNION ALL
SELECT ticker, date FROM ({_FLOWS}) flows
"""

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
    """The last ``days`` distinct dates of ``daily_prices`` up to ``end`` (datetime64[D])."""
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    found = conn.execute(_TRADING_DAYS, {"end": end, "days": days}).scalars().all()
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


def _read(
    raw: psycopg.Connection[Any], query: sql.Composable | None, types: Sequence[str]
) -> list[CopyColumn] | None:
    if query is None:
        return None
    return parse_copy_binary(*copy_binary(raw, query), types)


def _tickers_read(columns: list[CopyColumn] | None) -> np.ndarray:
    return columns[0].values if columns is not None else np.array([], dtype=np.bytes_)


def _ticker_keys(tickers: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Arrays of tickers (UTF-8 bytes) as keys of one kind that sort like the bytes, that is
    like the str (UTF-8 keeps code point order): each ticker's bytes, zero-padded to 8, read
    as a big-endian uint64 when every ticker fits (searchsorted compares integers three times
    faster than bytes); else the bytes themselves."""
    widest = max(array.dtype.itemsize for array in tickers)
    if widest > 8:
        return [array.astype(f"S{widest}") for array in tickers]
    keys = []
    for array in tickers:
        padded = np.zeros((len(array), 8), dtype=np.uint8)
        width = array.dtype.itemsize
        padded[:, :width] = array.view(np.uint8).reshape(len(array), width)
        keys.append(padded.view(">u8")[:, 0].astype(np.uint64))
    return keys


def _key_strings(keys: np.ndarray) -> npt.NDArray[np.str_]:
    """The tickers (str) of sorted keys from :func:`_ticker_keys`."""
    raw = keys.astype(">u8").view("S8") if keys.dtype == np.uint64 else keys
    return np.array([k.decode() for k in raw.tolist()], dtype=str)


def _date_columns(
    dates: npt.NDArray[np.datetime64], days: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.intp]:
    """The column of each of ``days`` in ``dates`` (ascending), -1 where it is not a date of
    the window (e.g. flows on a day without prices): a lookup table over the date span."""
    first = dates[0]
    span = int((dates[-1] - first).astype(np.int64)) + 1
    slot = np.full(span, -1, dtype=np.intp)
    slot[(dates - first).astype(np.int64)] = np.arange(len(dates))
    offset = (days - first).astype(np.int64)
    inside = (offset >= 0) & (offset < span)
    columns = np.full(len(days), -1, dtype=np.intp)
    columns[inside] = slot[offset[inside]]
    return columns


# Where the rows of one read go: the flat (ticker × date) cell of each row on a window date,
# and which rows those are (a slice of all of them when every row is).
_Cells = tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_] | slice]


def _cells(
    keys: np.ndarray,
    days: npt.NDArray[np.datetime64],
    universe: np.ndarray,
    dates: npt.NDArray[np.datetime64],
) -> _Cells:
    col = _date_columns(dates, days)
    on_a_date = col >= 0
    keep: npt.NDArray[np.bool_] | slice = slice(None) if on_a_date.all() else on_a_date
    row = np.searchsorted(universe, keys[keep])
    return row * len(dates) + col[keep], keep


def _empty_window(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    arrays = {field: np.full(shape, np.nan) for field in _WINDOW_FIELDS}
    arrays["halted"] = np.zeros(shape, dtype=bool)
    return arrays


def _place_prices(arrays: dict[str, np.ndarray], prices: list[CopyColumn], placed: _Cells) -> None:
    cells, keep = placed
    for column, field in zip(prices[2:8], _PRICE_FIELDS, strict=True):
        np.put(arrays[field], cells, column.as_float()[keep])
    halted = prices[8]
    np.put(arrays["halted"], cells, (halted.values & ~halted.null)[keep])


def _place_flows(arrays: dict[str, np.ndarray], flows: list[CopyColumn], placed: _Cells) -> None:
    cells, keep = placed
    investor = flows[2].values[keep]
    shares, krw = flows[3].as_float()[keep], flows[4].as_float()[keep]
    for code, (shares_field, krw_field) in _FLOW_FIELDS.items():
        mine = investor == code
        np.put(arrays[shares_field], cells[mine], shares[mine])
        np.put(arrays[krw_field], cells[mine], krw[mine])


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
    raw = _raw(conn)
    if reads.prices is not None:
        # Skip JIT: compiling costs more than it saves on a plain range scan. This transaction only.
        raw.execute("SELECT set_config('jit', 'off', true)")
    prices = _read(raw, reads.prices, _PRICE_TYPES)
    flows = _read(raw, reads.flows, _FLOW_TYPES)
    requested = np.array([t.encode() for t in tickers or []], dtype=np.bytes_)
    price_keys, flow_keys, requested_keys = _ticker_keys(
        [_tickers_read(prices), _tickers_read(flows), requested]
    )
    universe_keys = np.unique(np.concatenate([price_keys, flow_keys, requested_keys]))
    universe = _key_strings(universe_keys)
    dates = reads.dates
    arrays = _empty_window((len(universe), len(dates)))
    if prices is not None:
        placed = _cells(price_keys, prices[1].values, universe_keys, dates)
        _place_prices(arrays, prices, placed)
    if flows is not None:
        _place_flows(arrays, flows, _cells(flow_keys, flows[1].values, universe_keys, dates))
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
