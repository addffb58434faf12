"""The schema as a Mermaid ``erDiagram`` (docs/erd.md), generated from the models."""

from __future__ import annotations

import re

from sqlalchemy import Column, MetaData
from sqlalchemy.dialects import postgresql

from krstock.db.models import Base

HEADER = """# Entity-relationship diagram

Generated from `services/krstock/db/models.py` by `krstock db erd --output docs/erd.md`;
a test fails when this file is out of date. Units are in column comments (KRW, shares, percent).
Time-series views (`daily_prices_weekly`, `investor_flows_weekly`, `investor_flows_rolling`)
are described in [database.md](database.md).

"""


def _type_name(column: Column[object]) -> str:
    compiled = column.type.compile(dialect=postgresql.dialect()).lower()
    compiled = compiled.replace("timestamp with time zone", "timestamptz")
    compiled = compiled.replace("double precision", "double")
    compiled = compiled.replace("character varying", "varchar")
    if compiled.endswith("[]"):
        compiled = compiled[:-2] + "_array"
    return re.sub(r"[^a-z0-9]+", "_", compiled).strip("_")


def _keys(column: Column[object]) -> str:
    marks = []
    if column.primary_key:
        marks.append("PK")
    if column.foreign_keys:
        marks.append("FK")
    return ",".join(marks)


def render_erd(metadata: MetaData | None = None) -> str:
    """Markdown with one Mermaid erDiagram of every table, column and foreign key."""
    metadata = metadata or Base.metadata
    lines = [HEADER.rstrip("\n"), "", "```mermaid", "erDiagram"]
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        lines.append(f"    {table.name} {{")
        for column in table.columns:
            parts = [_type_name(column), column.name]
            keys = _keys(column)
            if keys:
                parts.append(keys)
            note = column.comment or ("nullable" if column.nullable else "")
            if note:
                parts.append('"' + note.replace('"', "'") + '"')
            lines.append("        " + " ".join(parts))
        lines.append("    }")
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
            parent = fk.column.table.name
            child_many = "o{" if not fk.parent.unique else "o|"
            lines.append(f"    {parent} ||--{child_many} {table.name} : {fk.parent.name}")
    lines.append("```")
    return "\n".join(lines) + "\n"
