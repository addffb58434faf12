"""Counting a file's keys back from the database (the per-file check against silent loss)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection


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
            values = series.to_numpy(dtype="datetime64[D]").astype(str)
            casts.append("date[]")
        else:
            values = np.array([_quoted(str(v)) for v in series.to_numpy(dtype=object)])
            casts.append("text[]")
        # One array literal per column: far cheaper to send than adapting 100k Python values.
        arrays.append("{" + ",".join(values) + "}")
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


def _quoted(value: str) -> str:
    """An element of a PostgreSQL array literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
