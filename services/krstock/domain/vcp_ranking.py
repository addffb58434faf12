"""Gen0's ranked view of the VCP signal list (``/api/kr/signals?mode=ranked``, monolith.md §2.1).

The weights and thresholds are :class:`~krstock.domain.vcp_legacy.VcpLegacyPolicy`'s ``rank_*``
fields and the score is :func:`~krstock.domain.vcp_legacy.final_score`; "today" is always an
argument (the domain reads no clock). ``vcp_legacy.rank_signals`` ranks a signal *log* and keeps
its OPEN rows; :func:`rank_listed` ranks rows the caller has already chosen, whatever their
status (``?date=`` lists one past day, closed signals included).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from krstock.domain.vcp_legacy import VcpLegacyPolicy, final_score

MONOLITH = VcpLegacyPolicy()


def gen0_final_score(
    score: float,
    contraction: float,
    foreign_5d: float,
    inst_5d: float,
    fresh: bool,
    policy: VcpLegacyPolicy = MONOLITH,
) -> float:
    """0.4·score + 0.3·(1−contraction)·100 + 2·min(flows/100k, 30) + 10 when ``fresh``."""
    return final_score(score, contraction, foreign_5d, inst_5d, fresh, policy)


def final_score_on(
    score: float,
    contraction: float,
    foreign_5d: float,
    inst_5d: float,
    signal_date: date,
    today: date,
    policy: VcpLegacyPolicy = MONOLITH,
) -> float:
    """``gen0_final_score`` with its today bonus decided by ``signal_date == today``."""
    fresh = signal_date == today
    return gen0_final_score(score, contraction, foreign_5d, inst_5d, fresh, policy)


def kept_by_ranking(
    score: float,
    contraction: float,
    foreign_5d: float,
    inst_5d: float,
    policy: VcpLegacyPolicy = MONOLITH,
) -> bool:
    """Gen0 drops weak contraction, selling by both foreigners and institutions, low scores."""
    return (
        contraction <= policy.rank_contraction_max
        and not (foreign_5d < 0 and inst_5d < 0)
        and score >= policy.rank_min_score
    )


def rank_listed(
    items: Sequence[dict[str, Any]], policy: VcpLegacyPolicy = MONOLITH
) -> tuple[list[dict[str, Any]], int]:
    """(the top ``rank_top_n`` kept items by ``final_score``, how many were kept).

    Items carry ``score``, ``contraction_ratio``, ``foreign_5d``, ``inst_5d`` and an already
    computed ``final_score``; the returned items are the given objects, not copies.
    """
    kept = [
        item
        for item in items
        if kept_by_ranking(
            item["score"], item["contraction_ratio"], item["foreign_5d"], item["inst_5d"], policy
        )
    ]
    kept.sort(key=lambda item: item["final_score"], reverse=True)
    return kept[: policy.rank_top_n], len(kept)
