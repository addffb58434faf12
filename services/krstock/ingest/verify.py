"""Counting a file's keys back from the database (the per-file check against silent loss)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Connection

_PG_EPOCH_DAYS = 10_957  # 2000-01-01 in days since 1970-01-01
# Array elements that need no quoting (tickers, dates, investor names, strategies, run ids).
_PLAIN = re.compile(r"[0-9A-Za-z_.:+\-]+(,[0-9A-Za-z_.:+\-]+)*")


def count_present(conn: Connection, table: str, keys: pd.DataFrame) -> int:
    """How many distinct rows of ``keys`` (columns = the table's key columns) exist in ``table``.

    One set-based query: the keys travel as arrays and are joined with ``unnest``.
    """
    keys = keys.drop_duplicates()
    if keys.empty:
        return 0
    arrays: list[str] = []
    casts: list[str] = []
    matches: list[str] = []
    for i, column in enumerate(keys.columns):
        series = keys[column]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            # Days since 2000-01-01 as int4: cheaper to format and for PostgreSQL to parse than
            # date text (NaT → NULL, which matches nothing).
            days = series.to_numpy(dtype="datetime64[D]")
            offsets = list(map(str, (days.astype(np.int64) - _PG_EPOCH_DAYS).tolist()))
            for missing in np.flatnonzero(np.isnat(days)).tolist():
                offsets[missing] = "NULL"
            arrays.append("{" + ",".join(offsets) + "}")
            casts.append("int4[]")
            matches.append(f"t.\"{column}\" = date '2000-01-01' + k.k{i}")
        else:
            values = series.to_numpy(dtype=object).tolist()
            if not all(type(v) is str for v in values):
                values = [str(v) for v in values]
            arrays.append(_array_literal(values))
            casts.append("text[]")
            matches.append(f't."{column}" = k.k{i}')
    names = [f"k{i}" for i in range(len(keys.columns))]
    unnest = ", ".join(f"%s::{cast}" for cast in casts)
    join = " AND ".join(matches)
    statement = (
        f'SELECT count(*) FROM "{table}" t JOIN unnest({unnest}) AS k({", ".join(names)}) ON {join}'
    )
    result = conn.exec_driver_sql(statement, tuple(arrays)).scalar_one()
    return int(np.int64(result))


def _array_literal(values: Iterable[str]) -> str:
    """One PostgreSQL array literal: far cheaper to send than adapting 100k Python values.
    Elements are quoted only when one of them needs it."""
    items = list(values)
    plain = ",".join(items)
    needs_quotes = not _PLAIN.fullmatch(plain) or (
        "NULL" in plain.upper() and any(item.upper() == "NULL" for item in items)
    )
    if needs_quotes:
        plain = ",".join(_quoted(item) for item in items)
    return "{" + plain + "}"


def _quoted(value: str) -> str:
    """An element of a PostgreSQL array literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
