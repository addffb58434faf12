"""The scan's write, made fast for ``krstock bench scan-db``: SignalRepository.replace_for_date
upserts in one INSERT ... ON CONFLICT, and must store exactly what the generic bulk_upsert
stored before (same values, NULLs, JSONB and counts; updated_at moved only on a change)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from krstock.db.bulk import bulk_upsert
from krstock.db.repositories import SignalRepository
from krstock.db.session import session_scope

pytestmark = pytest.mark.integration

DAY = date(2025, 12, 30)
COMPARED = (
    "ticker, status, grade, score, score_breakdown, entry_price, stop_price, target_price, "
    "quantity, position_size, foreign_5d, inst_5d, flow_unit, contraction_ratio, current_price, "
    "exit_date, return_pct, hold_days, policy_name, payload"
)


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    with session_scope(db_engine) as s:
        yield s


def _rows() -> list[dict[str, Any]]:
    tricky: list[dict[str, Any]] = [
        # Money is integer KRW: floats are rounded half to even, as pandas rounds.
        {"stop_price": 2.5, "target_price": 3.5, "quantity": -2.5, "position_size": 115527.4},
        {"stop_price": np.float64(7.5), "target_price": np.int64(9), "quantity": True},
        {"stop_price": float("nan"), "target_price": None, "quantity": 2**40},
        {"stop_price": Decimal("12.5"), "target_price": "42", "quantity": 0},
    ]
    rows = []
    for i, extra in enumerate(tricky):
        rows.append(
            {
                "ticker": f"00000{i}",
                "status": "OPEN" if i % 2 else "PENDING",
                "grade": None if i == 2 else "A",
                "score": [0.1, float("nan"), np.float64(1e-7), None][i],
                "score_breakdown": {"rs": Decimal("1.5"), 3: [1, None, np.int64(2)]},
                "entry_price": 1000.0 / 3,
                "position_size": 10,
                "foreign_5d": -(2**33),
                "inst_5d": None,
                "flow_unit": "shares",
                "contraction_ratio": 0.3333333333333333,
                "current_price": np.float32(1.5),
                "exit_date": None if i else date(2026, 1, 2),
                "return_pct": -0.0,
                "hold_days": np.int32(3),
                "policy_name": "monolith",
                "payload": {"nested": {"x": [1.25, "a", None]}, "nan": float("nan"), "i": i},
                **extra,
            }
        )
    return rows


def _stored(session: Session, strategy: str) -> list[tuple[Any, ...]]:
    return list(
        session.execute(
            text(f"SELECT {COMPARED} FROM signals WHERE strategy = :s ORDER BY ticker"),
            {"s": strategy},
        ).all()
    )


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or left == right
    return bool(left == right)


def test_replace_for_date_stores_what_bulk_upsert_stored(session: Session) -> None:
    rows = _rows()
    legacy = [{**r, "strategy": "legacy", "signal_date": DAY, "run_id": None} for r in rows]
    bulk = bulk_upsert(
        session.connection(), "signals", pd.DataFrame(legacy), ["strategy", "signal_date", "ticker"]
    )
    written = SignalRepository(session).replace_for_date("fast", DAY, rows)
    assert (written.inserted, written.updated, written.unchanged) == (bulk.inserted, 0, 0)
    stored, expected = _stored(session, "fast"), _stored(session, "legacy")
    assert len(stored) == len(expected) == len(rows)
    for got, want in zip(stored, expected, strict=True):
        assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (got, want)
    # stop_price, target_price, quantity, position_size of the first row
    assert stored[0][6:10] == (2, 4, -2, 115527)


def test_a_rewrite_changes_only_the_rows_that_differ(session: Session) -> None:
    repo = SignalRepository(session)
    rows = _rows()
    first = repo.replace_for_date("fast", DAY, rows, run_id=None)
    assert (first.inserted, first.updated, first.unchanged) == (4, 0, 0)
    before: dict[str, Any] = dict(
        session.execute(
            text("SELECT ticker, updated_at FROM signals WHERE strategy = 'fast'")
        ).all()
    )
    session.execute(text("SELECT pg_sleep(0.01)"))
    session.commit()
    same = repo.replace_for_date("fast", DAY, rows, run_id=None)
    assert (same.inserted, same.updated, same.unchanged, same.deleted) == (0, 0, 4, 0)
    changed = [dict(r) for r in rows]
    changed[1]["score"] = 2.0
    changed[3]["payload"] = {"other": True}
    again = repo.replace_for_date("fast", DAY, changed, run_id=None)
    assert (again.inserted, again.updated, again.unchanged) == (0, 2, 2)
    assert again.ids == first.ids
    session.commit()
    after: dict[str, Any] = dict(
        session.execute(
            text("SELECT ticker, updated_at FROM signals WHERE strategy = 'fast'")
        ).all()
    )
    moved = sorted(t for t in before if after[t] != before[t])
    assert moved == ["000001", "000003"]
