"""Idempotent bulk upserts: COPY into a TEMP staging table, then one INSERT ... ON CONFLICT.

A second load of the same rows changes nothing (``0 inserted, 0 updated``): the update only fires
where a value IS DISTINCT FROM the stored one. Python work is per column (vectorized pandas/numpy
conversion to a CSV stream), never per row, except JSONB and array values which must be encoded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy import Connection

NULL = r"\N"
_INTEGER_TYPES = {"bigint", "integer", "smallint"}
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class UpsertCounts:
    """Outcome of one load. ``duplicates``: rows dropped because a later row had the same key."""

    inserted: int
    updated: int
    unchanged: int
    duplicates: int = 0

    @property
    def total(self) -> int:
        """Distinct keys loaded (inserted + updated + unchanged)."""
        return self.inserted + self.updated + self.unchanged

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.duplicates + other.duplicates,
        )


def _raw(conn: Connection) -> psycopg.Connection[Any]:
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("bulk_upsert needs a psycopg 3 connection (postgresql+psycopg://)")
    return driver


def _column_types(raw: psycopg.Connection[Any], table: str) -> dict[str, str]:
    rows = raw.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (table,),
    ).fetchall()
    if not rows:
        raise ValueError(f"unknown table {table!r}")
    return {name: type_name for name, type_name in rows}


def _integers(series: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("Int64")
    try:
        numbers = pd.to_numeric(series, errors="raise")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"column {name!r} must be integers: {exc}") from exc
    if pd.api.types.is_float_dtype(numbers.dtype):
        # Money is integer KRW: float sources are rounded to the nearest unit.
        numbers = numbers.round()
    return numbers.astype("Int64")


def _dates(series: pd.Series) -> pd.Series | np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        text = values.astype(str).astype(object)
        text[np.isnat(values)] = None
        return text
    return series


def _json_default(value: Any) -> Any:
    """What orjson cannot encode natively: Decimal, numpy scalars; anything else is an error."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a JSONB column")


def _json_value(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return orjson.dumps(
        value, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    ).decode()


def _array_value(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    items = []
    for item in value:
        text = str(item).replace("\\", "\\\\").replace('"', '\\"')
        items.append(f'"{text}"')
    return "{" + ",".join(items) + "}"


def _booleans(series: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series.dtype):
        return series
    try:
        return series.astype("boolean")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"column {name!r} must be booleans: {exc}") from exc


def _copy_ready(frame: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """Each column converted (vectorized) to what the CSV stream needs for its SQL type."""
    out: dict[str, Any] = {}
    for name in frame.columns:
        series = frame[name]
        sql_type = types[name]
        if sql_type in _INTEGER_TYPES:
            out[name] = _integers(series, name)
        elif sql_type == "boolean":
            out[name] = _booleans(series, name)
        elif sql_type == "date":
            out[name] = _dates(series)
        elif sql_type in ("jsonb", "json"):
            try:
                out[name] = series.map(_json_value, na_action=None).astype(object)
            except TypeError as exc:
                raise TypeError(f"column {name!r}: cannot store a value as JSONB ({exc})") from exc
        elif sql_type.endswith("[]"):
            out[name] = series.map(_array_value, na_action=None).astype(object)
        else:
            out[name] = series
    return pd.DataFrame(out, index=frame.index)


def _upsert_statement(
    table: str, staging: str, columns: Sequence[str], keys: Sequence[str], types: dict[str, str]
) -> sql.Composed:
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    target = sql.Identifier(table)
    conflict = sql.SQL(", ").join(map(sql.Identifier, keys))
    values = [c for c in columns if c not in keys]
    if not values:
        action: sql.Composable = sql.SQL("DO NOTHING")
    else:
        assignments: list[sql.Composable] = [
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in values
        ]
        if "updated_at" in types and "updated_at" not in columns:
            assignments.append(sql.SQL("updated_at = now()"))
        action = sql.SQL("DO UPDATE SET {a} WHERE ({old}) IS DISTINCT FROM ({new})").format(
            a=sql.SQL(", ").join(assignments),
            old=sql.SQL(", ").join(
                sql.SQL("{}.{}").format(target, sql.Identifier(c)) for c in values
            ),
            new=sql.SQL(", ").join(
                sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in values
            ),
        )
    # xmax = 0 on the returned row means a fresh insert; otherwise the conflict update fired.
    return sql.SQL(
        "WITH up AS (INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging} "
        "ON CONFLICT ({conflict}) {action} RETURNING (xmax = 0) AS fresh) "
        "SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM up"
    ).format(
        target=target,
        cols=cols,
        staging=sql.Identifier(staging),
        conflict=conflict,
        action=action,
    )


def bulk_upsert(
    conn: Connection, table: str, frame: pd.DataFrame, key_columns: Sequence[str]
) -> UpsertCounts:
    """Insert or update ``frame`` into ``table`` keyed by ``key_columns`` (a unique key).

    Columns absent from ``frame`` keep their stored values (or server defaults on insert).
    NaN/None become NULL. Duplicate keys inside ``frame``: the last row wins and the dropped
    rows are counted in ``duplicates``. Runs in ``conn``'s transaction; the caller commits.
    """
    keys = list(key_columns)
    if not keys:
        raise ValueError("key_columns must name the table's unique key")
    if frame.columns.duplicated().any():
        raise ValueError(f"duplicate column names in frame: {list(frame.columns)}")
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ValueError(f"key columns {missing} are not in the frame")
    raw = _raw(conn)
    types = _column_types(raw, table)
    unknown = [c for c in frame.columns if c not in types]
    if unknown:
        raise ValueError(f"columns {unknown} are not in table {table!r}")
    if frame.empty:
        return UpsertCounts(0, 0, 0)

    ready = _copy_ready(frame, types)
    duplicated = ready.duplicated(subset=keys, keep="last")
    duplicates = int(duplicated.sum())
    if duplicates:
        ready = ready[~duplicated.to_numpy()]
    buffer = io.StringIO()
    ready.to_csv(buffer, index=False, header=False, na_rep=NULL, lineterminator="\n")
    payload = buffer.getvalue().encode()

    columns = list(ready.columns)
    staging = f"_stage_{table}"
    with raw.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(staging)))
        cur.execute(
            sql.SQL("CREATE TEMP TABLE {s} AS SELECT {cols} FROM {t} WITH NO DATA").format(
                s=sql.Identifier(staging),
                cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
                t=sql.Identifier(table),
            )
        )
        copy_sql = sql.SQL("COPY {s} ({cols}) FROM STDIN (FORMAT csv, NULL {null})").format(
            s=sql.Identifier(staging),
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            null=sql.Literal(NULL),
        )
        with cur.copy(copy_sql) as copy:
            view = memoryview(payload)
            for start in range(0, len(view), _COPY_CHUNK):
                copy.write(view[start : start + _COPY_CHUNK])
        cur.execute(_upsert_statement(table, staging, columns, keys, types))
        row = cur.fetchone()
        cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(staging)))
    assert row is not None
    inserted, updated = int(row[0]), int(row[1])
    return UpsertCounts(
        inserted=inserted,
        updated=updated,
        unchanged=len(ready) - inserted - updated,
        duplicates=duplicates,
    )
