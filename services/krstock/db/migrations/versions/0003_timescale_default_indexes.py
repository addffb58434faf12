"""Drop the `<table>_date_idx` indexes that `create_hypertable` added on TimescaleDB.

Before this revision 0002 created hypertables with TimescaleDB's default indexes (one on
``date DESC`` per hypertable). The models do not have them, so `krstock db check` and
`alembic check` reported a difference on every TimescaleDB database. 0002 now passes
``create_default_indexes => false``; this revision removes the indexes from databases migrated
before that. The primary keys (``ticker, date`` ...) and ``ix_*_date_ticker`` serve the queries.

On plain PostgreSQL (no hypertables) there is nothing to drop: a no-op.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hypertables 0002 creates (frozen here: a migration must not follow later code).
HYPERTABLES = ("daily_prices", "investor_flows", "index_prices", "fx_rates")


def _hypertables(bind: sa.Connection) -> list[str]:
    """The hypertables of HYPERTABLES in this database ([] without TimescaleDB)."""
    installed = bind.execute(
        sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    if installed is None:
        return []
    found = bind.execute(
        sa.text(
            "SELECT hypertable_name FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = current_schema() AND hypertable_name = ANY(:names)"
        ),
        {"names": list(HYPERTABLES)},
    ).scalars()
    return sorted(found)


def upgrade() -> None:
    for table in _hypertables(op.get_bind()):
        # Dropping the hypertable's index drops the chunks' copies of it too.
        op.execute(f'DROP INDEX IF EXISTS "{table}_date_idx"')


def downgrade() -> None:
    """Nothing to restore: 0002 no longer creates these indexes, so the schema at 0002 has none."""
