"""Reading helpers shared by the legacy (monolith ``data/``) and pykrx CSV parsers.

A file is decoded (UTF-8 with or without BOM, cp949 fallback), tokenized with its physical line
numbers, and its columns are converted with vectorized checks. A bad row becomes a ``Reject``
(file, line, reason, raw text) and the rest of the file still loads; a problem with the whole
file (unreadable, empty, unknown header) raises ``FileFormatError``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

ObjectArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

UTF8_BOM = b"\xef\xbb\xbf"
_DASH_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COMPACT_DATE = re.compile(r"^\d{8}$")
# KRX short codes: six digits, or (since 2024) five alphanumerics plus a final character.
_TICKER = re.compile(r"^[0-9A-Z]{6}$")
_ALL_TICKERS = re.compile(r"[0-9A-Z]{6}(?:,[0-9A-Z]{6})*")


def _has_padded_field(data: bytes) -> bool:
    """A field with leading or trailing blanks somewhere in UTF-8 ``data`` (then every text
    field is stripped). Vectorized over the spaces: substring scans for " ," and the like are
    slower, and the blank inside a timestamp makes them all run."""
    if b"\t" in data:
        return True
    if b" " not in data:  # the common case for numeric files
        return False
    chars = np.frombuffer(data, dtype=np.uint8)
    spaces = np.flatnonzero(chars == ord(" "))
    if spaces[0] == 0 or spaces[-1] == len(chars) - 1:
        return True
    before, after = chars[spaces - 1], chars[spaces + 1]
    edge = (ord(","), ord("\n"))
    return bool(np.isin(before, edge).any() or np.isin(after, edge).any())


class FileFormatError(ValueError):
    """The whole file cannot be read (encoding, empty, unknown header or layout)."""


@dataclass(frozen=True)
class Reject:
    """One row that was not loaded. ``line`` is the 1-based physical line in the file."""

    file: str
    line: int | None
    reason: str
    raw: str


def decode(data: bytes, file: str) -> str:
    """UTF-8 (a BOM is dropped) or, when that fails, cp949 (the Korean Windows code page)."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    with contextlib.suppress(UnicodeDecodeError):  # then cp949
        return data.decode("utf-8")
    try:
        return data.decode("cp949")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{file}: neither UTF-8 nor cp949 text ({exc.reason})") from exc


def read_text(path: Path, file: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileFormatError(f"{file}: cannot read ({exc.strerror or exc})") from exc
    return decode(data, file)


@dataclass
class CsvTable:
    """A tokenized CSV: string columns of the rows with the right field count, and their lines."""

    file: str
    header: list[str]
    columns: dict[str, ObjectArray]
    lines: npt.NDArray[np.int64]
    raw: ObjectArray
    rows_read: int
    rejects: list[Reject] = field(default_factory=list)
    # File of each row when several tables were concatenated (None: all rows are ``file``).
    row_files: ObjectArray | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def file_of(self, i: int) -> str:
        return self.file if self.row_files is None else str(self.row_files[i])


def concat_tables(tables: Sequence[CsvTable], file: str) -> CsvTable:
    """One table over several files with the same columns (checks then run once, vectorized)."""
    header = tables[0].header
    return CsvTable(
        file=file,
        header=header,
        columns={c: np.concatenate([t.columns[c] for t in tables]) for c in header},
        lines=np.concatenate([t.lines for t in tables]),
        raw=np.concatenate([t.raw for t in tables]),
        rows_read=sum(t.rows_read for t in tables),
        rejects=[r for t in tables for r in t.rejects],
        row_files=np.concatenate(
            [
                t.row_files if t.row_files is not None else np.full(len(t), t.file, dtype=object)
                for t in tables
            ]
        ),
    )


def normalize_header(fields: Sequence[str]) -> list[str]:
    return [f.strip().lstrip("\ufeff").strip().lower() for f in fields]


def read_header(
    text: str, file: str, layouts: Mapping[str, Iterable[str]]
) -> tuple[str, list[str], list[str]]:
    """The layout whose column set equals the header's, the header and the physical lines."""
    physical = text.splitlines()
    if not physical or all(not line.strip() for line in physical):
        raise FileFormatError(f"{file}: empty file (no header line)")
    header = normalize_header(next(csv.reader(physical[:1])))
    layout = next(
        (
            name
            for name, cols in layouts.items()
            if set(header) == set(cols) and len(header) == len(set(cols))
        ),
        None,
    )
    if layout is None:
        hint = ""
        for delimiter in (";", "\t", "|"):
            if len(header) == 1 and delimiter in physical[0]:
                hint = f" (the header looks {delimiter!r}-delimited; expected commas)"
                break
        expected = " | ".join(",".join(cols) for cols in layouts.values())
        raise FileFormatError(
            f"{file}: unknown header {','.join(header)!r}{hint}; expected one of: {expected}"
        )
    return layout, header, physical


def tokenize_csv(
    text: str,
    file: str,
    layouts: Mapping[str, Iterable[str]],
    numeric: Collection[str] = (),
) -> tuple[str, CsvTable]:
    """Split ``text`` into rows and pick the layout whose column set equals the header's.

    Returns the layout name and the table. Blank lines are ignored; a row with too few fields is
    a truncated line and one with too many a wrong field count (both rejected with their line).
    ``numeric`` columns may come back as float arrays (see ``tokenize_unquoted``).
    """
    layout, header, physical = read_header(text, file, layouts)
    if '"' in text:
        return layout, _rows_with_quotes(physical, header, file)
    return layout, tokenize_unquoted([(file, physical)], header, file, numeric)


def _count_reject(file: str, line: int, fields: int, width: int, raw: str) -> Reject:
    if fields < width:
        return Reject(file, line, f"truncated line: {fields} of {width} fields", raw)
    return Reject(file, line, f"wrong field count: {fields} fields, expected {width}", raw)


Columns = dict[str, ObjectArray]


def _rows_with_quotes(physical: list[str], header: list[str], file: str) -> CsvTable:
    """The general path (quoted fields may hold commas or line breaks): the csv module."""
    width = len(header)
    good: list[list[str]] = []
    good_lines: list[int] = []
    rejects: list[Reject] = []
    rows_read = 0
    reader = csv.reader(physical)
    next(reader)
    for row in reader:
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        rows_read += 1
        if len(row) == width:
            good.append(row)
            good_lines.append(line)
        else:
            rejects.append(_count_reject(file, line, len(row), width, physical[line - 1]))
    if good:
        transposed = list(zip(*good, strict=True))
        columns = {
            name: np.array([value.strip() for value in transposed[i]], dtype=object)
            for i, name in enumerate(header)
        }
    else:
        columns = {name: np.array([], dtype=object) for name in header}
    raw = np.array([physical[i - 1] for i in good_lines], dtype=object)
    lines = np.array(good_lines, dtype=np.int64)
    return CsvTable(file, header, columns, lines, raw, rows_read, rejects)


def _read_fields(
    joined: bytes, header: list[str], numeric: Collection[str]
) -> tuple[pd.DataFrame, bool]:
    """Fields by pandas' C parser. ``numeric`` columns are parsed straight to floats (empty →
    NaN) when every value is a number; otherwise every column comes back as text. ``joined``
    is UTF-8: the C parser reads bytes as they are (a str would be encoded again)."""
    common: dict[str, Any] = {
        "header": None,
        "names": list(range(len(header))),
        "skip_blank_lines": False,
        "engine": "c",
        "keep_default_na": False,
    }
    if numeric:
        dtypes = {i: (np.float64 if name in numeric else object) for i, name in enumerate(header)}
        # A non-number somewhere: the text path below reports it row by row.
        with contextlib.suppress(ValueError, TypeError):
            frame = pd.read_csv(io.BytesIO(joined), dtype=dtypes, na_values=[""], **common)
            for i, name in enumerate(header):
                if name not in numeric:
                    frame[i] = frame[i].fillna("")
            return frame, True
    return pd.read_csv(io.BytesIO(joined), dtype=object, na_filter=False, **common), False


def tokenize_unquoted(
    parts: Sequence[tuple[str, list[str]]],
    header: list[str],
    label: str,
    numeric: Collection[str] = (),
) -> CsvTable:
    """The fast path for files without quotes (any number of files with the same header):
    field counts from comma counts, then one pass of pandas' C tokenizer over all good lines.
    ``parts`` are (file name, physical lines with the header first). ``numeric`` columns come
    back as float arrays (NaN = empty) when they hold only numbers, else as text."""
    width = len(header)
    body = np.array([line for _, physical in parts for line in physical[1:]], dtype=object)
    numbers = np.concatenate(
        [np.arange(2, len(physical) + 1, dtype=np.int64) for _, physical in parts]
    )
    files = np.concatenate(
        [np.full(len(physical) - 1, file, dtype=object) for file, physical in parts]
    )
    blank = np.array([not line.strip() for line in body], dtype=bool)
    body, numbers, files = body[~blank], numbers[~blank], files[~blank]
    fields = np.array([line.count(",") + 1 for line in body], dtype=np.int64)
    right = fields == width
    rejects = [
        _count_reject(str(files[i]), int(numbers[i]), int(fields[i]), width, str(body[i]))
        for i in np.flatnonzero(~right)
    ]
    good = body[right]
    columns: Columns = {name: np.array([], dtype=object) for name in header}
    if len(good):
        joined = "\n".join(good).encode()
        frame, numeric_parsed = _read_fields(joined, header, numeric)
        padded = _has_padded_field(joined)
        for i, name in enumerate(header):
            if numeric_parsed and name in numeric:
                columns[name] = frame[i].to_numpy(dtype=np.float64, na_value=np.nan)
                continue
            values = frame[i].to_numpy(dtype=object)
            if padded:
                values = np.array([v.strip() for v in values], dtype=object)
            columns[name] = values
    single = len(parts) == 1
    return CsvTable(
        file=label,
        header=header,
        columns=columns,
        lines=numbers[right],
        raw=good,
        rows_read=len(body),
        rejects=rejects,
        row_files=None if single else files[right],
    )


class RowChecks:
    """Vectorized column conversions that record the first problem of each row."""

    def __init__(self, table: CsvTable) -> None:
        self.table = table
        self.reason: ObjectArray = np.full(len(table), None, dtype=object)

    def fail(self, mask: BoolArray, reasons: Sequence[str] | str) -> None:
        """Record ``reasons`` (one string, or one per True in ``mask``) where no reason is set."""
        rows = np.flatnonzero(mask)
        for k, i in enumerate(rows):
            if self.reason[i] is None:
                self.reason[i] = reasons if isinstance(reasons, str) else reasons[k]

    def text(self, col: str, *, required: bool = False) -> ObjectArray:
        values = self.table.columns[col]
        if required:
            self.fail(values == "", f"missing {col}")
        return values

    def number(
        self,
        col: str,
        *,
        required: bool = True,
        nonneg: bool = False,
        whole: bool = False,
    ) -> FloatArray:
        """Floats (NaN when empty). Non-numeric, missing, negative or fractional values fail."""
        raw = self.table.columns[col]
        if raw.dtype.kind == "f":  # already parsed by the C tokenizer
            values = raw.astype(np.float64)
            empty = np.isnan(values)
        else:
            empty = raw == ""
            values = to_floats(raw, empty)
            bad = ~empty & ~np.isfinite(values)
            self.fail(bad, [f"non-numeric {col}: {raw[i]!r}" for i in np.flatnonzero(bad)])

        def show(i: int) -> str:
            return _number_text(values[i]) if raw.dtype.kind == "f" else str(raw[i])

        if required:
            self.fail(empty, f"missing {col}")
        if nonneg:
            negative = values < 0
            self.fail(
                negative, [f"negative {col}: {show(i)}" for i in np.flatnonzero(negative).tolist()]
            )
        if whole:
            fractional = np.isfinite(values) & (values != np.round(values))
            self.fail(
                fractional,
                [
                    f"{col} is not a whole number: {show(i)}"
                    for i in np.flatnonzero(fractional).tolist()
                ],
            )
        return values

    def date(self, col: str, *, required: bool = True) -> npt.NDArray[np.datetime64]:
        """Dates in ``YYYY-MM-DD`` or ``YYYYMMDD`` (a time after a space is ignored)."""
        raw = self.table.columns[col]
        values, bad = parse_dates(raw)
        empty = raw == ""
        if required:
            self.fail(empty, f"missing {col}")
        bad &= ~empty
        self.fail(bad, [describe_bad_date(col, raw[i]) for i in np.flatnonzero(bad)])
        return values

    def ticker(self, col: str = "ticker") -> ObjectArray:
        values, bad = normalize_tickers(self.table.columns[col])
        raw = self.table.columns[col]
        self.fail(bad, [f"bad {col}: {raw[i]!r}" for i in np.flatnonzero(bad)])
        return values

    def choice(self, col: str, allowed: Iterable[str]) -> ObjectArray:
        raw = self.table.columns[col]
        values = np.array([v.upper() for v in raw], dtype=object)
        unknown = ~np.isin(values, list(allowed))
        self.fail(unknown, [f"unknown {col} {raw[i]!r}" for i in np.flatnonzero(unknown)])
        return values

    @property
    def ok(self) -> BoolArray:
        return np.array([r is None for r in self.reason], dtype=bool)

    def rejects(self) -> list[Reject]:
        bad = np.flatnonzero(~self.ok)
        return [
            Reject(
                self.table.file_of(int(i)),
                int(self.table.lines[i]),
                str(self.reason[i]),
                str(self.table.raw[i]),
            )
            for i in bad
        ]


def _number_text(value: float) -> str:
    """A parsed number as it was most likely written (for reject messages)."""
    return str(int(value)) if np.isfinite(value) and value == int(value) else repr(float(value))


def to_floats(raw: ObjectArray, empty: BoolArray) -> FloatArray:
    """Floats of a string column, NaN where empty or not a number."""
    filled = np.where(empty, "nan", raw)
    try:
        return filled.astype(np.float64)
    except ValueError:  # at least one non-number: the slower, per-value path
        return pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )


def parse_dates(raw: ObjectArray) -> tuple[npt.NDArray[np.datetime64], BoolArray]:
    """Parse both date forms; returns datetime64[D] (NaT where bad) and the bad mask."""
    codes, distinct = pd.factorize(raw, use_na_sentinel=False)
    if len(distinct) < len(raw):
        # A file holds few distinct dates (a year of prices: ~250 over 100k rows): parse each once.
        values, bad = parse_dates(np.asarray(distinct, dtype=object))
        return values[codes], bad[codes]
    if len(raw):
        try:  # the common case: every value is a valid YYYY-MM-DD (numpy parses them in C)
            fast = raw.astype("datetime64[D]")
        except (ValueError, TypeError):
            fast = None
        # numpy also reads '2024-01' or '20240102' (as a year): only an exact round trip counts.
        if fast is not None and fast.astype(str).tolist() == raw.tolist():
            return fast, np.zeros(len(raw), dtype=bool)
    text = pd.Series(raw, dtype=object).astype(str).str.strip().str.split(" ", n=1).str[0]
    dash = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    compact = text.str.fullmatch(r"\d{8}")
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]")
    if dash.any():
        parsed[dash] = pd.to_datetime(text[dash], format="%Y-%m-%d", errors="coerce")
    if compact.any():
        parsed[compact] = pd.to_datetime(text[compact], format="%Y%m%d", errors="coerce")
    values = parsed.to_numpy(dtype="datetime64[D]")
    return values, np.isnat(values)


def decimals(values: pd.Series, most: int = 6) -> int | None:
    """The fewest decimals (at most ``most``) that write every given value exactly, as a file
    that rounds a column shows; None when the values carry more digits or none is given."""
    given = values.to_numpy(dtype=np.float64)
    given = given[np.isfinite(given)]
    if not len(given):
        return None
    for digits in range(most + 1):
        scaled = given * 10.0**digits
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return digits
    return None


def parse_date(value: object) -> np.datetime64 | None:
    """One date in either form (None when missing or invalid)."""
    if not isinstance(value, str):
        return None
    values, bad = parse_dates(np.array([value], dtype=object))
    return None if bad[0] else values[0]


def describe_bad_date(col: str, value: str) -> str:
    head = value.strip().split(" ", 1)[0]
    if _DASH_DATE.match(head) or _COMPACT_DATE.match(head):
        return f"impossible date in {col}: {value!r}"
    return f"bad date in {col}: {value!r} (expected YYYY-MM-DD or YYYYMMDD)"


def normalize_tickers(raw: ObjectArray) -> tuple[ObjectArray, BoolArray]:
    """Zero-pad tickers written as integers (``5930`` or ``5930.0`` → ``005930``)."""
    try:
        joined = ",".join(raw)
    except TypeError:  # not all strings (JSON values): the per-value path
        joined = ""
    if _ALL_TICKERS.fullmatch(joined):  # the common case, checked in one C pass
        return raw, np.zeros(len(raw), dtype=bool)
    out = np.empty(len(raw), dtype=object)
    bad = np.zeros(len(raw), dtype=bool)
    for i, value in enumerate(raw):
        ticker = normalize_ticker(value)
        if ticker is None:
            bad[i] = True
            out[i] = ""
        else:
            out[i] = ticker
    return out, bad


def normalize_ticker(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if text.isdigit() and len(text) < 6:
        text = text.zfill(6)
    return text if _TICKER.match(text) else None


def dedupe_last(frame: pd.DataFrame, keys: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """Keep the last row (in file order) of each key; returns the frame and the number dropped."""
    duplicated = frame.duplicated(list(keys), keep="last")
    count = int(duplicated.sum())
    if count:
        frame = frame.loc[~duplicated]
    return frame.reset_index(drop=True), count


# A KRX common share's short code ends in 0. Preferred classes end in 5 (우), 7 (2우B), 9 (3우B)
# or, for codes issued since the alphanumeric scheme, a letter (e.g. 00088K, 37550L).
PREFERRED_LAST_CHARS = frozenset("579ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def is_preferred_code(ticker: str) -> bool:
    return len(ticker) == 6 and ticker[-1] in PREFERRED_LAST_CHARS


def stock_frame(
    tickers: Sequence[str],
    names: Sequence[str | None] | None = None,
    markets: Sequence[str | None] | None = None,
    sectors: Sequence[str | None] | None = None,
    *,
    listing_status: str,
    source: str,
    yahoo_symbols: Sequence[str | None] | None = None,
) -> pd.DataFrame:
    """Rows for ``stocks`` (STOCK_COLUMNS + yahoo_symbol). Unknown names are '' and unknown
    markets 'UNKNOWN'; SPACs (스팩) and REITs (리츠) are recognised by name, preferred by code."""
    n = len(tickers)
    name_list = ["" if not isinstance(v, str) else v for v in (names or [""] * n)]
    market_list = [
        "UNKNOWN" if not isinstance(v, str) or not v else v.upper() for v in (markets or [None] * n)
    ]
    sector_list = [v if isinstance(v, str) and v else None for v in (sectors or [None] * n)]
    yahoo_list = [v if isinstance(v, str) and v else None for v in (yahoo_symbols or [None] * n)]
    frame = pd.DataFrame(
        {
            "ticker": list(tickers),
            "name": name_list,
            "market": market_list,
            "sector": pd.Series(sector_list, dtype=object),
            "listing_status": listing_status,
            "is_etf": False,
            "is_etn": False,
            "is_spac": ["스팩" in v for v in name_list],
            "is_reit": ["리츠" in v for v in name_list],
            "is_preferred": [is_preferred_code(t) for t in tickers],
            "source": source,
            "yahoo_symbol": pd.Series(yahoo_list, dtype=object),
        }
    )
    return frame.drop_duplicates("ticker", keep="last").reset_index(drop=True)
