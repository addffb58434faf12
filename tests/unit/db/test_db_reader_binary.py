"""The binary COPY parser of krstock.db.reader on streams built here byte by byte: every field
type, NULLs, text of any length, no rows, one row, framing variants, blocks, bad data."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krstock.db import reader
from krstock.db.reader import CopyColumn, CopyStream, parse_copy_binary

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
TRAILER = b"\xff\xff"
EPOCH = date(2000, 1, 1)
PACK = {"int2": ">h", "int4": ">i", "int8": ">q", "float8": ">d", "date": ">i"}
ALL_TYPES = ("text", "date", "int2", "int4", "int8", "float8", "bool")


def _field(kind: str, value: Any) -> bytes:
    if value is None:
        return struct.pack(">i", -1)
    if kind == "text":
        payload = value.encode()
    elif kind == "bool":
        payload = b"\x01" if value else b"\x00"
    elif kind == "date":
        payload = struct.pack(">i", (value - EPOCH).days)
    else:
        payload = struct.pack(PACK[kind], value)
    return struct.pack(">i", len(payload)) + payload


def _messages(
    rows: Sequence[Sequence[Any]],
    types: Sequence[str],
    *,
    extension: bytes = b"",
    header_apart: bool = False,
    trailer_with_last_row: bool = False,
) -> list[bytes]:
    """The CopyData messages PostgreSQL sends: the header rides in the first message, each row
    is a message, the trailer is the last one (with no rows: header and trailer together)."""
    header = SIGNATURE + struct.pack(">ii", 0, len(extension)) + extension
    messages = [
        struct.pack(">h", len(types))
        + b"".join(_field(k, v) for k, v in zip(types, row, strict=True))
        for row in rows
    ]
    if trailer_with_last_row and messages:
        messages[-1] += TRAILER
    else:
        messages.append(TRAILER)
    if header_apart:
        return [header, *messages]
    return [header + messages[0], *messages[1:]]


def _parse(messages: list[bytes], types: Sequence[str]) -> list[CopyColumn]:
    return parse_copy_binary(b"".join(messages), [len(m) for m in messages], types)


def _expected(kind: str, values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    null = np.array([v is None for v in values], dtype=bool)
    if kind == "text":
        out = np.array([(v or "").encode() for v in values], dtype=np.bytes_)
    elif kind == "date":
        out = np.array([np.datetime64(v, "D") if v else np.datetime64("NaT") for v in values])
        out = out.astype("datetime64[D]")
    elif kind == "bool":
        out = np.array([bool(v) for v in values], dtype=bool)
    elif kind == "float8":
        out = np.array([0.0 if v is None else v for v in values], dtype=np.float64)
    else:
        width = {"int2": np.int16, "int4": np.int32, "int8": np.int64}[kind]
        out = np.array([0 if v is None else v for v in values], dtype=width)
    return out, null


def _assert_columns(
    columns: list[CopyColumn], rows: Sequence[Sequence[Any]], types: Sequence[str]
) -> None:
    assert len(columns) == len(types)
    for i, (kind, column) in enumerate(zip(types, columns, strict=True)):
        values, null = _expected(kind, [row[i] for row in rows])
        np.testing.assert_array_equal(column.null, null, err_msg=f"field {i} ({kind}) nulls")
        if kind == "text":
            assert column.values.tolist() == values.tolist(), f"field {i} (text)"
        else:
            np.testing.assert_array_equal(column.values, values, err_msg=f"field {i} ({kind})")
            assert column.values.dtype == values.dtype, f"field {i} ({kind}) dtype"


ROWS = [
    ("005930", date(2025, 12, 29), 1, 10, 71_000, 0.5, False),
    ("000660", date(2025, 12, 30), -2, 20, 2**40, -1.25, True),
    ("0001A0", date(1999, 12, 31), 3, 30, -(2**62), 1e-7, False),
]


def test_rows_laid_out_alike_round_trip() -> None:
    _assert_columns(_parse(_messages(ROWS, ALL_TYPES), ALL_TYPES), ROWS, ALL_TYPES)


def test_nulls_are_flagged_with_zero_nat_false_or_empty_values() -> None:
    rows = [
        ("005930", date(2025, 12, 30), 1, 2, 3, 4.5, True),
        (None, None, None, None, None, None, None),
        ("000660", None, 7, None, 9, None, False),
    ]
    columns = _parse(_messages(rows, ALL_TYPES), ALL_TYPES)
    _assert_columns(columns, rows, ALL_TYPES)
    assert np.isnat(columns[1].values[1])
    as_float = columns[4].as_float()
    np.testing.assert_array_equal(np.isnan(as_float), [False, True, False])
    assert as_float[2] == 9.0


def test_text_of_any_length_and_multibyte() -> None:
    rows = [("A", 1), ("0001A0", 2), ("", 3), ("삼성전자우", 4), (None, 5)]
    types = ("text", "int8")
    columns = _parse(_messages(rows, types), types)
    assert [v.decode() for v in columns[0].values.tolist()] == ["A", "0001A0", "", "삼성전자우", ""]
    assert columns[0].null.tolist() == [False, False, False, False, True]
    assert columns[1].values.tolist() == [1, 2, 3, 4, 5]


def test_no_rows_gives_empty_columns_of_each_type() -> None:
    messages = _messages([], ALL_TYPES)
    assert len(messages) == 1  # header and trailer in one message, as PostgreSQL sends them
    columns = _parse(messages, ALL_TYPES)
    assert [len(c.values) for c in columns] == [0] * len(ALL_TYPES)
    assert columns[1].values.dtype == np.dtype("datetime64[D]")
    assert columns[4].values.dtype == np.int64 and columns[5].values.dtype == np.float64
    assert columns[6].values.dtype == bool and columns[0].values.dtype.kind == "S"


def test_one_row() -> None:
    _assert_columns(_parse(_messages(ROWS[:1], ALL_TYPES), ALL_TYPES), ROWS[:1], ALL_TYPES)


@pytest.mark.parametrize(
    "framing",
    [
        {"extension": b"\x00\x01\x02"},
        {"header_apart": True},
        {"trailer_with_last_row": True},
        {"header_apart": True, "trailer_with_last_row": True, "extension": b"xyz"},
    ],
)
def test_framing_variants_give_the_same_columns(framing: dict[str, Any]) -> None:
    _assert_columns(_parse(_messages(ROWS, ALL_TYPES, **framing), ALL_TYPES), ROWS, ALL_TYPES)


def test_many_blocks_mixing_uniform_and_walked_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "_BLOCK_ROWS", 4)
    rows: list[tuple[Any, ...]] = [
        (f"{i:06d}", date(2025, 1, 1 + i % 28), i, float(i) / 3) for i in range(23)
    ]
    rows[9] = ("X", None, 9, None)  # the third block is walked: a NULL and a short ticker
    rows[22] = ("LAST", date(2025, 2, 1), None, 0.0)  # the last, partial block too
    types = ("text", "date", "int8", "float8")
    _assert_columns(_parse(_messages(rows, types), types), rows, types)


def test_a_stream_fed_message_by_message_parses_blocks_as_they_fill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reader, "_BLOCK_ROWS", 3)
    rows = [(f"{i:06d}", i) for i in range(10)]
    types = ("text", "int8")
    stream: CopyStream[list[CopyColumn]] = CopyStream(types, lambda columns: columns)
    data, sizes = bytearray(), array("q")
    parsed_while_arriving = 0
    for message in _messages(rows, types):
        data += message
        sizes.append(len(message))
        while stream.parse_block(data, sizes):
            parsed_while_arriving += 1
    # Full blocks of 3 rows are parsed as soon as a further message has arrived.
    assert parsed_while_arriving == 3
    blocks = stream.finish(data, sizes)
    assert [len(block[0].values) for block in blocks] == [3, 3, 3, 1]
    _assert_columns(reader.concatenate_columns(blocks, types), rows, types)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda ms: [b"NOTPGCOPY!!" + ms[0][11:], *ms[1:]], "signature"),
        (lambda ms: [ms[0][:11] + struct.pack(">i", 1 << 16) + ms[0][15:], *ms[1:]], "flags"),
        (lambda ms: [*ms[:-1], b"\x00\x00"], "trailer"),
        (lambda ms: [ms[0], ms[1][:-3], *ms[2:]], "row"),
        (lambda ms: [ms[0], struct.pack(">h", 3) + ms[1][2:], *ms[2:]], "fields"),
    ],
)
def test_bad_data_is_rejected(mangle: Any, message: str) -> None:
    types = ("text", "int8")
    messages = mangle(_messages([("005930", 1), ("000660", 2), ("000020", 3)], types))
    with pytest.raises(ValueError, match="malformed binary COPY data"):
        _parse(messages, types)


def test_sizes_must_add_up_and_types_must_match() -> None:
    messages = _messages([("005930", 1)], ("text", "int8"))
    data = b"".join(messages)
    with pytest.raises(ValueError, match="add up"):
        parse_copy_binary(data, [len(data) - 1], ("text", "int8"))
    with pytest.raises(ValueError, match="int4 field of 8 bytes"):
        parse_copy_binary(data, [len(m) for m in messages], ("text", "int4"))
    with pytest.raises(ValueError, match="unknown field types"):
        parse_copy_binary(data, [len(m) for m in messages], ("text", "numeric"))


_VALUES = {
    "text": st.text(alphabet="0123456789ABC한국", max_size=9),
    "date": st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)),
    "int2": st.integers(-(2**15), 2**15 - 1),
    "int4": st.integers(-(2**31), 2**31 - 1),
    "int8": st.integers(-(2**63), 2**63 - 1),
    "float8": st.floats(allow_nan=False),
    "bool": st.booleans(),
}


@st.composite
def _tables(draw: st.DrawFn) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    types = tuple(draw(st.lists(st.sampled_from(ALL_TYPES), min_size=1, max_size=6)))
    row = st.tuples(*(st.none() | _VALUES[kind] for kind in types))
    return types, draw(st.lists(row, max_size=40))


@settings(max_examples=150, deadline=None)
@given(_tables(), st.integers(1, 7))
def test_any_rows_round_trip(
    table: tuple[tuple[str, ...], list[tuple[Any, ...]]], block: int
) -> None:
    types, rows = table
    original = reader._BLOCK_ROWS
    reader._BLOCK_ROWS = block
    try:
        columns = _parse(_messages(rows, types), types)
    finally:
        reader._BLOCK_ROWS = original
    _assert_columns(columns, rows, types)
