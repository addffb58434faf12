"""docs/erd.md is generated from the models and must be up to date."""

from __future__ import annotations

from pathlib import Path

from krstock.db.erd import render_erd
from krstock.db.models import Base

ROOT = Path(__file__).resolve().parents[3]


def test_committed_erd_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "erd.md").read_text(encoding="utf-8")
    assert committed == render_erd(), "run: krstock db erd --output docs/erd.md"


def test_erd_lists_every_table_and_foreign_key() -> None:
    document = render_erd()
    for table in Base.metadata.tables.values():
        assert f"    {table.name} {{" in document
        for fk in table.foreign_keys:
            assert f"{fk.column.table.name} ||--" in document
    assert "signals ||--o{ trades : signal_id" in document
    assert 'bigint trading_value "KRW"' in document
    assert "varchar_16_array scopes" in document
