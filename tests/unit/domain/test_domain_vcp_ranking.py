"""Gen0's ranked view of the VCP list: the score with "today" passed in, the filter at its
boundaries, and agreement with ``vcp_legacy.rank_signals`` on open rows."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from krstock.domain.vcp_legacy import VcpLegacyPolicy, rank_signals
from krstock.domain.vcp_ranking import (
    final_score_on,
    gen0_final_score,
    kept_by_ranking,
    rank_listed,
)

TODAY = date(2026, 2, 6)


def item(ticker: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ticker": ticker,
        "signal_date": "2026-02-05",
        "score": 70.0,
        "contraction_ratio": 0.5,
        "foreign_5d": 100_000,
        "inst_5d": 0,
        "status": "OPEN",
    }
    row.update(values)
    signal_date = date.fromisoformat(row["signal_date"])
    row["final_score"] = final_score_on(
        row["score"],
        row["contraction_ratio"],
        row["foreign_5d"],
        row["inst_5d"],
        signal_date,
        TODAY,
    )
    return row


def test_worked_example_and_the_today_bonus_from_the_given_date() -> None:
    # monolith.md §2.1: score 82.5, contraction 0.41, foreign 1,036,584, inst −8,036 → 71.3.
    assert gen0_final_score(82.5, 0.41, 1_036_584, -8_036, fresh=False) == 71.3
    assert final_score_on(82.5, 0.41, 1_036_584, -8_036, TODAY, TODAY) == 81.3
    assert final_score_on(82.5, 0.41, 1_036_584, -8_036, date(2026, 2, 5), TODAY) == 71.3


@pytest.mark.parametrize(
    ("values", "kept"),
    [
        ({"contraction_ratio": 0.8}, True),
        ({"contraction_ratio": 0.8001}, False),
        ({"score": 50.0}, True),
        ({"score": 49.9}, False),
        ({"foreign_5d": -1, "inst_5d": -1}, False),
        ({"foreign_5d": -1, "inst_5d": 0}, True),
    ],
)
def test_filter_boundaries(values: dict[str, Any], kept: bool) -> None:
    row = item("A", **values)
    assert (
        kept_by_ranking(row["score"], row["contraction_ratio"], row["foreign_5d"], row["inst_5d"])
        is kept
    )


def test_rank_listed_keeps_closed_rows_the_caller_listed() -> None:
    """A past day listed by date may hold closed signals: they are ranked like open ones."""
    rows = [item("A", status="CLOSED", score=90.0), item("B", score=60.0)]
    top, kept = rank_listed(rows)
    assert [r["ticker"] for r in top] == ["A", "B"] and kept == 2
    assert top[0] is rows[0]  # the given objects, not copies


def test_rank_listed_agrees_with_rank_signals_on_open_rows() -> None:
    rows = [
        item("A", score=60.0),
        item("B", score=80.0),
        item("C", score=60.0, signal_date="2026-02-06"),
        item("D", score=40.0),
        item("E", contraction_ratio=0.9),
    ]
    top, kept = rank_listed(rows)
    reference = rank_signals(rows, TODAY, VcpLegacyPolicy())
    assert [r["ticker"] for r in top] == [r["ticker"] for r in reference.signals] == ["C", "B", "A"]
    assert [r["final_score"] for r in top] == [r["final_score"] for r in reference.signals]
    assert kept == reference.total_filtered == 3


def test_rank_listed_caps_at_the_policy_top_n() -> None:
    rows = [item(f"T{i}", score=50.0 + i) for i in range(25)]
    top, kept = rank_listed(rows)
    assert len(top) == 20 and kept == 25
    few, _ = rank_listed(rows, VcpLegacyPolicy(rank_top_n=3))
    assert [r["ticker"] for r in few] == ["T24", "T23", "T22"]
