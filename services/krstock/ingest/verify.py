"""Counting a file's keys back from the database (the per-file check against silent loss)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Connection

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
    for column in keys.columns:
        series = keys[column]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            # ISO dates never need quoting: no per-element check.
            days = series.to_numpy(dtype="datetime64[D]").astype(str).tolist()
            arrays.append("{" + ",".join(days) + "}")
            casts.append("date[]")
        else:
            values = series.to_numpy(dtype=object).tolist()
            if not all(type(v) is str for v in values):
                values = [str(v) for v in values]
            arrays.append(_array_literal(values))
            casts.append("text[]")
    names = [f"k{i}" for i in range(len(keys.columns))]
    unnest = ", ".join(f"%s::{cast}" for cast in casts)
    join = " AND ".join(
        f't."{column}" = k.{name}' for column, name in zip(keys.columns, names, strict=True)
    )
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
