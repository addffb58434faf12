"""The ``signals.strategy`` spellings each monolith view reads, from ``krstock.app.kinds``.

Rows written before names were unified use other spellings (``vcp_legacy``, ``jongga_v2``);
``spellings`` lists them all, so every query here reads old and new rows alike.
"""

from __future__ import annotations

from krstock.app.kinds import RunKind, spellings

# /api/kr/signals is the monolith's signal_tracker rule, ``vcp-legacy`` (the true VCP detector,
# strategy ``vcp``, is served by /api/v1/signals?strategy=vcp).
VCP_STRATEGIES = spellings(RunKind.VCP_LEGACY)
CLOSING_BET_STRATEGIES = spellings(RunKind.CLOSING_BET)


def strategy_aliases(name: str) -> tuple[str, ...]:
    """Both spellings of a strategy name given by a client (``closing_bet`` / ``closing-bet``)."""
    return tuple(dict.fromkeys((name, name.replace("_", "-"), name.replace("-", "_"))))


def strategy_in(names: tuple[str, ...]) -> str:
    """``strategy IN ('a', 'b')`` for hand-written SQL (our own names, quoted all the same)."""
    quoted = ", ".join("'" + name.replace("'", "''") + "'" for name in names)
    return f"strategy IN ({quoted})"
