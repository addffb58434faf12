"""The daily schedule in KST on the KRX calendar (monolith §4.8 times as defaults).

Every trigger (Celery beat outside Kubernetes, a CronJob running ``krstock enqueue scheduled
--job NAME`` inside it) fires the same ``krstock.scheduled`` task, which asks :func:`plan_job`
what to do *now*: skip a closed day, defer until the delayed close on exam day (수능), or enqueue
the job's task for the trading day. The decision is a pure function, tested against the calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from krstock.config import WorkerSection, get_settings
from krstock.domain.calendar import KST, KrxCalendar

Days = Literal["weekdays", "saturday"]


@dataclass(frozen=True)
class ScheduledJob:
    """One schedule entry: when (KST wall clock), which task, and whether it needs a trading day."""

    name: str
    at: time
    days: Days
    task: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    trading_day_only: bool = True

    def cron(self) -> str:
        """A five-field cron expression in KST (CronJob ``timeZone: Asia/Seoul``)."""
        dow = "1-5" if self.days == "weekdays" else "6"
        return f"{self.at.minute} {self.at.hour} * * {dow}"


@dataclass(frozen=True)
class Plan:
    """What a trigger does now: enqueue ``task`` with ``kwargs``, defer it, or skip (reason)."""

    job: str
    action: Literal["enqueue", "defer", "skip"]
    reason: str
    task: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    countdown_s: float = 0.0


def parse_hhmm(text: str) -> time:
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise ValueError(f"schedule time {text!r} is not HH:MM (24 h, KST)") from exc


def default_jobs(settings: WorkerSection | None = None) -> dict[str, ScheduledJob]:
    """The monolith's jobs (§4.8), with times overridable by ``KRSTOCK_SCHEDULE_<NAME>``."""
    s = settings or get_settings().worker
    jobs = [
        ScheduledJob(
            "full_update",
            parse_hhmm(s.schedule_full_update),
            "weekdays",
            "krstock.run_pipeline",
            "collect → gate → scans → analysis → tracking (monolith run_full_update)",
        ),
        ScheduledJob(
            "closing_bet",
            parse_hhmm(s.schedule_closing_bet),
            "weekdays",
            "krstock.run_scan",
            "closing-bet V2 scan",
            {"kind": "closing-bet"},
        ),
        ScheduledJob(
            "prices",
            parse_hhmm(s.schedule_prices),
            "weekdays",
            "krstock.run_collect",
            "daily prices after the close",
        ),
        ScheduledJob(
            "flows",
            parse_hhmm(s.schedule_flows),
            "weekdays",
            "krstock.run_collect",
            "investor flows (KRX finalises them after prices; collect upserts idempotently)",
        ),
        ScheduledJob(
            "vcp",
            parse_hhmm(s.schedule_vcp),
            "weekdays",
            "krstock.run_scan",
            "VCP scan",
            {"kind": "vcp"},
        ),
        ScheduledJob(
            "report",
            parse_hhmm(s.schedule_report),
            "weekdays",
            "krstock.run_track",
            "daily report: open signals marked to market and closed by rule",
        ),
        ScheduledJob(
            "backfill",
            parse_hhmm(s.schedule_backfill),
            "saturday",
            "krstock.run_collect",
            f"historical backfill of the last {s.backfill_days} days",
            {"backfill_days": s.backfill_days},
            trading_day_only=False,
        ),
    ]
    return {job.name: job for job in jobs}


def plan_job(
    job: ScheduledJob,
    now: datetime,
    calendar: KrxCalendar,
    *,
    fired_at: datetime | None = None,
) -> Plan:
    """Decide what the trigger for ``job`` does at ``now`` (any timezone; judged in KST).

    ``fired_at`` is when the trigger nominally fired: a deferred run passes it so the deferral
    happens once and not again.
    """
    now_kst = now.astimezone(KST)
    today = now_kst.date()
    if not job.trading_day_only:
        end = calendar.trading_day_on_or_before(today)
        start = end - timedelta(days=int(job.params.get("backfill_days", 30)))
        return Plan(
            job.name,
            "enqueue",
            "backfill runs on any day",
            job.task,
            {"start": start.isoformat(), "end": end.isoformat()},
        )
    reason = calendar.holiday_reason(today)
    if reason is not None:
        return Plan(job.name, "skip", f"{today.isoformat()} is not a KRX trading day ({reason})")
    session = calendar.session(today)
    nominal = datetime.combine(today, job.at, KST)
    shifted = nominal + session.close_delay
    # Only a delayed close defers (by at most an hour, well inside the broker's visibility
    # timeout); a trigger on a normal day enqueues whenever it fires.
    if fired_at is None and session.close_delay > timedelta(0) and now_kst < shifted:
        return Plan(
            job.name,
            "defer",
            f"market closes at {session.close:%H:%M} ({session.note}); runs at {shifted:%H:%M} KST",
            "krstock.scheduled",
            {"job": job.name, "fired_at": now_kst.isoformat()},
            countdown_s=(shifted - now_kst).total_seconds(),
        )
    kwargs: dict[str, Any] = {k: v for k, v in job.params.items() if k != "backfill_days"}
    if job.task == "krstock.run_collect":
        kwargs.update(start=today.isoformat(), end=today.isoformat())
    else:
        kwargs["day"] = today.isoformat()
    return Plan(job.name, "enqueue", "trading day", job.task, kwargs)


def next_runs(
    job: ScheduledJob, after: datetime, calendar: KrxCalendar, count: int = 5
) -> list[datetime]:
    """The next ``count`` moments (KST) at which ``job`` actually runs work, holidays skipped."""
    out: list[datetime] = []
    day = after.astimezone(KST).date()
    while len(out) < count:
        wanted = day.weekday() < 5 if job.days == "weekdays" else day.weekday() == 5
        moment = datetime.combine(day, job.at, KST)
        if job.trading_day_only:
            wanted = wanted and calendar.is_trading_day(day)
            if wanted:
                moment += calendar.session(day).close_delay
        if wanted and moment > after:
            out.append(moment)
        day += timedelta(days=1)
    return out


def beat_schedule(jobs: dict[str, ScheduledJob]) -> dict[str, dict[str, Any]]:
    """Celery beat entries (the app's timezone is Asia/Seoul); each fires ``krstock.scheduled``."""
    from celery.schedules import crontab

    schedule: dict[str, dict[str, Any]] = {}
    for job in jobs.values():
        dow = "mon-fri" if job.days == "weekdays" else "sat"
        schedule[f"krstock-{job.name}"] = {
            "task": "krstock.scheduled",
            "schedule": crontab(minute=job.at.minute, hour=job.at.hour, day_of_week=dow),
            "kwargs": {"job": job.name},
            "options": {"queue": "maintenance"},
        }
    # Open signals marked to market every 5 minutes through the session (09:00-15:55 KST).
    schedule["krstock-refresh-prices"] = {
        "task": "krstock.refresh_prices",
        "schedule": crontab(minute="*/5", hour="9-15", day_of_week="mon-fri"),
        "options": {"queue": "maintenance"},
    }
    return schedule


def target_day(now: datetime, calendar: KrxCalendar) -> date:
    """The trading day a manual run means: today once the session opened, else the one before."""
    now_kst = now.astimezone(KST)
    today = now_kst.date()
    if calendar.is_trading_day(today) and now_kst.time() >= calendar.session(today).open:
        return today
    return calendar.previous_trading_day(today)
