"""The text output of scans and backtests: numbers that are not there say n/a, and a result
with no signals says why in a line of its own."""

from __future__ import annotations

from typing import Any

from krstock.commands.scan import _backtest_line, explain


def _backtest(benchmark: float | None, win_rate: float | None) -> dict[str, Any]:
    return {
        "start": "2025-05-02",
        "end": "2025-06-05",
        "summary": {"trades": 0, "win_rate": win_rate, "avg_return_pct": None},
        "benchmark": {"return_pct": benchmark},
    }


def test_backtest_line_says_n_a_for_missing_numbers() -> None:
    line = _backtest_line("vcp", _backtest(None, None))
    assert "None" not in line
    assert line.endswith("benchmark n/a") and "win rate n/a" in line
    assert "benchmark -1.5%" in _backtest_line("vcp", _backtest(-1.5, 50.0))


def _scan(signals: int = 0, **extra: Any) -> dict[str, Any]:
    base = {"kind": "closing-bet", "policy": "monolith", "scanned": 2472}
    return {**base, "signals": [{"ticker": "005930"}] * signals, **extra}


def test_no_signals_with_every_input_says_no_setups() -> None:
    assert explain(_scan()) == [
        "no signals: every input was there; none of the 2472 stocks scanned met the "
        "closing-bet rules (policy monolith)"
    ]
    assert explain(_scan(signals=1, reasons=[])) == []


def test_missing_inputs_are_one_line_each_with_the_fix() -> None:
    reasons = [
        {
            "code": "no_investor_flows",
            "message": "no investor flows from 2025-05-29 to 2025-06-05",
            "fix": "krstock collect --source krx --start 2025-05-29 --end 2025-06-05",
        },
        {"code": "blocked_by_gate", "message": "RED on 2025-06-05: the policy blocks new signals"},
    ]
    lines = explain(_scan(reasons=reasons, blocked="RED"))
    assert lines == [
        "missing: no investor flows from 2025-05-29 to 2025-06-05; to get it: "
        "krstock collect --source krx --start 2025-05-29 --end 2025-06-05",
        "no new signals: RED on 2025-06-05: the policy blocks new signals",
    ]


def test_a_blocked_day_without_reasons_still_says_so() -> None:
    assert explain(_scan(blocked="market gate RED")) == ["no new signals: market gate RED"]
