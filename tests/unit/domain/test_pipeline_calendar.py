"""The KRX calendar and the schedule decisions, checked against known holidays and sessions."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from krstock.config import Settings, WorkerSection
from krstock.domain.calendar import KRX_HOLIDAYS, KST, KrxCalendar, OutsideCalendarError
from krstock.worker.schedules import default_jobs, next_runs, parse_hhmm, plan_job, target_day

CAL = KrxCalendar()

# KRX's published closures (2024, 2025) and the computed ones (2026, 2027), weekdays only.
KNOWN_CLOSED = [
    "2024-01-01", "2024-02-09", "2024-02-12", "2024-03-01", "2024-04-10", "2024-05-01",
    "2024-05-06", "2024-05-15", "2024-06-06", "2024-08-15", "2024-09-16", "2024-09-17",
    "2024-09-18", "2024-10-01", "2024-10-03", "2024-10-09", "2024-12-25", "2024-12-31",
    "2025-01-01", "2025-01-27", "2025-01-28", "2025-01-29", "2025-01-30", "2025-03-03",
    "2025-05-01", "2025-05-05", "2025-05-06", "2025-06-03", "2025-06-06", "2025-08-15",
    "2025-10-03", "2025-10-06", "2025-10-07", "2025-10-08", "2025-10-09", "2025-12-25",
    "2025-12-31",
    "2026-01-01", "2026-02-16", "2026-02-17", "2026-02-18", "2026-03-02", "2026-05-01",
    "2026-05-05", "2026-05-25", "2026-06-03", "2026-08-17", "2026-09-24", "2026-09-25",
    "2026-10-05", "2026-10-09", "2026-12-25", "2026-12-31",
    "2027-01-01", "2027-02-08", "2027-02-09", "2027-03-01", "2027-05-05", "2027-05-13",
    "2027-08-16", "2027-09-14", "2027-09-15", "2027-09-16", "2027-10-04", "2027-10-11",
    "2027-12-27", "2027-12-31",
]  # fmt: skip

# Weekdays next to holidays that do trade (the classic off-by-one mistakes).
KNOWN_OPEN = [
    "2024-01-02", "2024-02-13", "2024-04-11", "2024-09-19", "2024-12-30", "2025-01-31",
    "2025-05-02", "2025-10-10", "2026-01-02", "2026-02-19", "2026-03-03", "2026-05-04",
    "2026-06-04", "2026-09-23", "2026-10-02", "2026-12-30", "2027-01-04", "2027-02-10",
    "2027-07-19", "2027-09-17", "2027-12-28",
]  # fmt: skip


@pytest.mark.parametrize("day", KNOWN_CLOSED)
def test_known_holidays_are_closed(day: str) -> None:
    d = date.fromisoformat(day)
    assert d.weekday() < 5, "the table lists weekday closures only"
    assert not CAL.is_trading_day(d)
    assert CAL.holiday_reason(d) == KRX_HOLIDAYS[d]


@pytest.mark.parametrize("day", KNOWN_OPEN)
def test_weekdays_next_to_holidays_trade(day: str) -> None:
    assert CAL.is_trading_day(date.fromisoformat(day))


def test_table_has_only_weekdays_and_the_expected_count_per_year() -> None:
    assert all(d.weekday() < 5 for d in KRX_HOLIDAYS)
    per_year = {y: sum(1 for d in KRX_HOLIDAYS if d.year == y) for y in range(2024, 2028)}
    assert per_year == {2024: 18, 2025: 19, 2026: 16, 2027: 14}
    assert set(KRX_HOLIDAYS) == {date.fromisoformat(d) for d in KNOWN_CLOSED}


def test_weekends_are_closed_and_trading_day_counts_are_plausible() -> None:
    assert CAL.holiday_reason(date(2026, 1, 3)) == "Weekend"
    # 262 weekdays − 18 closures in 2024; 261 − 19 in 2025.
    assert len(CAL.trading_days(date(2024, 1, 1), date(2024, 12, 31))) == 244
    assert len(CAL.trading_days(date(2025, 1, 1), date(2025, 12, 31))) == 242


def test_late_openings() -> None:
    assert CAL.first_trading_day_of_year(2027) == date(2027, 1, 4)
    first = CAL.session(date(2026, 1, 2))
    assert (first.open, first.close, first.close_delay) == (time(10), time(15, 30), timedelta(0))
    exam = CAL.session(date(2025, 11, 13))
    assert (exam.open, exam.close, exam.close_delay) == (time(10), time(16, 30), timedelta(hours=1))
    normal = CAL.session(date(2026, 1, 5))
    assert (normal.open, normal.close) == (time(9), time(15, 30))
    with pytest.raises(ValueError, match="not a KRX trading day"):
        CAL.session(date(2026, 2, 17))


def test_navigation_and_bounds() -> None:
    assert CAL.next_trading_day(date(2026, 2, 13)) == date(2026, 2, 19)  # Fri → after Seollal
    assert CAL.previous_trading_day(date(2025, 1, 31)) == date(2025, 1, 24)
    assert CAL.trading_day_on_or_before(date(2026, 10, 5)) == date(2026, 10, 2)
    with pytest.raises(OutsideCalendarError):
        CAL.is_trading_day(date(2028, 1, 3))
    with pytest.raises(ValueError, match="before start"):
        CAL.trading_days(date(2026, 1, 2), date(2026, 1, 1))


def test_corrections_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRSTOCK_KRX_EXTRA_HOLIDAYS", "2026-07-17")
    monkeypatch.setenv("KRSTOCK_KRX_EXTRA_TRADING_DAYS", "2026-12-31")
    s = Settings().worker
    cal = KrxCalendar(s.krx_extra_holidays, s.krx_extra_trading_days)
    assert not cal.is_trading_day(date(2026, 7, 17))
    assert cal.is_trading_day(date(2026, 12, 31))
    assert CAL.is_trading_day(date(2026, 7, 17))


def kst(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=KST)


def test_default_times_are_the_monolith_ones_and_overridable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs = default_jobs(WorkerSection())
    times = {name: job.at.strftime("%H:%M") for name, job in jobs.items()}
    assert times == {
        "full_update": "15:10",
        "closing_bet": "15:20",
        "prices": "16:00",
        "flows": "16:10",
        "vcp": "16:20",
        "report": "16:30",
        "backfill": "10:00",
    }
    assert jobs["vcp"].cron() == "20 16 * * 1-5"
    assert jobs["backfill"].cron() == "0 10 * * 6"
    monkeypatch.setenv("KRSTOCK_SCHEDULE_VCP", "17:05")
    assert default_jobs(Settings().worker)["vcp"].at == time(17, 5)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hhmm("5pm")


def test_plan_skips_holidays_and_enqueues_on_trading_days() -> None:
    jobs = default_jobs(WorkerSection())
    vcp = jobs["vcp"]
    chuseok = plan_job(vcp, kst(2026, 9, 24, 16, 20), CAL)
    assert chuseok.action == "skip" and "Chuseok" in chuseok.reason
    normal = plan_job(vcp, kst(2026, 9, 23, 16, 20), CAL)
    assert (normal.action, normal.task) == ("enqueue", "krstock.run_scan")
    assert normal.kwargs == {"kind": "vcp", "day": "2026-09-23"}
    # Judged in KST: 07:20 UTC is 16:20 KST on the same day.
    utc = plan_job(vcp, datetime.fromisoformat("2026-09-23T07:20:00+00:00"), CAL)
    assert utc.kwargs["day"] == "2026-09-23"
    prices = plan_job(jobs["prices"], kst(2026, 9, 23, 16), CAL)
    assert prices.kwargs == {"start": "2026-09-23", "end": "2026-09-23"}


def test_exam_day_defers_jobs_by_the_delayed_close() -> None:
    job = default_jobs(WorkerSection())["full_update"]
    fired = kst(2026, 11, 19, 15, 10)
    plan = plan_job(job, fired, CAL)
    assert plan.action == "defer" and plan.task == "krstock.scheduled"
    assert plan.countdown_s == 3600
    # The deferred run carries fired_at and then enqueues (no second deferral).
    later = plan_job(job, kst(2026, 11, 19, 16, 10), CAL, fired_at=fired)
    assert (later.action, later.task, later.kwargs) == (
        "enqueue",
        "krstock.run_pipeline",
        {"day": "2026-11-19"},
    )
    # The first trading day opens late but closes on time: no deferral.
    assert plan_job(job, kst(2026, 1, 2, 15, 10), CAL).action == "enqueue"
    # A manual trigger early on a normal day runs now (no hours-long countdown).
    assert plan_job(job, kst(2026, 11, 20, 8, 0), CAL).action == "enqueue"


def test_backfill_runs_on_saturday_over_the_last_days() -> None:
    job = default_jobs(WorkerSection())["backfill"]
    plan = plan_job(job, kst(2026, 2, 21, 10), CAL)  # Saturday after Seollal week
    assert plan.action == "enqueue"
    assert plan.kwargs == {"start": "2026-01-21", "end": "2026-02-20"}


def test_next_runs_skip_holidays_and_shift_on_exam_day() -> None:
    jobs = default_jobs(WorkerSection())
    runs = next_runs(jobs["vcp"], kst(2026, 2, 13, 17), CAL, count=2)
    assert runs == [kst(2026, 2, 19, 16, 20), kst(2026, 2, 20, 16, 20)]
    exam = next_runs(jobs["report"], kst(2026, 11, 18, 17), CAL, count=2)
    assert exam == [kst(2026, 11, 19, 17, 30), kst(2026, 11, 20, 16, 30)]
    sats = next_runs(jobs["backfill"], kst(2026, 2, 16, 0), CAL, count=2)
    assert sats == [kst(2026, 2, 21, 10), kst(2026, 2, 28, 10)]


def test_target_day_before_the_open_is_the_previous_trading_day() -> None:
    assert target_day(kst(2026, 2, 19, 8, 59), CAL) == date(2026, 2, 13)
    assert target_day(kst(2026, 2, 19, 9, 0), CAL) == date(2026, 2, 19)
    assert target_day(kst(2026, 2, 21, 12), CAL) == date(2026, 2, 20)
