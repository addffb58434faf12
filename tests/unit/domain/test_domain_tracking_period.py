"""The performance report's period: the monolith's "first ~ last exit", and a true end when
no signal has closed yet (it printed "2026-11-11 ~ ")."""

from __future__ import annotations

from krstock.domain.tracking import PERIOD_END_EXIT, PERIOD_END_SIGNAL, performance_report


def _row(day: str, status: str = "OPEN", exit_date: str | None = None) -> dict[str, object]:
    closed = status == "CLOSED"
    return {
        "signal_date": day,
        "status": status,
        "return_pct": 1.0 if closed else None,
        "hold_days": 2 if closed else None,
        "exit_date": exit_date,
    }


def test_both_ends_keep_the_monolith_format() -> None:
    rows = [_row("2026-11-11", "CLOSED", "2026-11-13"), _row("2026-11-20")]
    report = performance_report(rows, strategy_params={})
    assert report["period"] == "2026-11-11 ~ 2026-11-13"
    assert (report["period_start"], report["period_end"]) == ("2026-11-11", "2026-11-13")
    assert report["period_end_basis"] == PERIOD_END_EXIT


def test_open_signals_only_end_on_the_last_signal_day_and_say_so() -> None:
    rows = [_row("2026-11-11"), _row("2026-11-18")]
    report = performance_report(rows, strategy_params={})
    assert report["period"] == "2026-11-11 ~ 2026-11-18"
    assert not report["period"].endswith("~ ")
    assert report["period_end"] == "2026-11-18"
    assert report["period_end_basis"] == PERIOD_END_SIGNAL


def test_no_signals_have_no_period() -> None:
    report = performance_report([], strategy_params={})
    assert report["period"] == ""
    assert report["period_start"] is None and report["period_end_basis"] is None
