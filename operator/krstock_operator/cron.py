"""Five-field cron expressions (CronJob dialect): a validation regex for the CRD, next-run times.

The regex is what the CRD's CEL rule checks; ``next_run`` is how the operator reports
``status.nextRunAt`` in the ScanJob's own time zone (day-of-month and day-of-week are OR-ed when
both are restricted, as in cron and Kubernetes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

# (name, low, high, names) of the five fields, in order.
FIELDS: list[tuple[str, int, int, list[str]]] = [
    ("minute", 0, 59, []),
    ("hour", 0, 23, []),
    ("day of month", 1, 31, []),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
]
_VALUE_RES = [
    "[0-5]?[0-9]",
    "[01]?[0-9]|2[0-3]",
    "0?[1-9]|[12][0-9]|3[01]",
    "0?[1-9]|1[0-2]|" + "|".join(MONTHS),
    "[0-7]|" + "|".join(DAYS),
]


def _field_re(value: str) -> str:
    item = rf"(\*|({value})(-({value}))?)(/[0-9]{{1,2}})?"
    return rf"{item}(,{item})*"


# RE2-compatible (CEL `matches`) and Python-compatible; case-sensitive names (MON, JAN) like K8s.
CRON_REGEX = r"^\s*" + r"\s+".join(f"({_field_re(v)})" for v in _VALUE_RES) + r"\s*$"


class CronError(ValueError):
    """A schedule that is not a valid five-field cron expression."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches_day(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_month or in_week
        return in_month and in_week


def _value(token: str, low: int, high: int, names: list[str], field: str) -> int:
    if token.upper() in names:
        return names.index(token.upper()) + (1 if field == "month" else 0)
    if not token.isdigit():
        raise CronError(f"{field}: {token!r} is not a number")
    number = int(token)
    if not low <= number <= high:
        raise CronError(f"{field}: {number} is outside {low}-{high}")
    return number


def _parse_field(text: str, index: int) -> tuple[frozenset[int], bool]:
    field, low, high, names = FIELDS[index]
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step_text and (not step_text.isdigit() or step < 1):
            raise CronError(f"{field}: bad step {step_text!r}")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start = _value(first, low, high, names, field)
            end = _value(last, low, high, names, field)
            if start > end:
                raise CronError(f"{field}: range {base!r} runs backwards")
        else:
            start = _value(base, low, high, names, field)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    if field == "day of week" and 7 in values:  # 7 is Sunday too
        values.discard(7)
        values.add(0)
    return frozenset(values), not text.startswith(("*", "?"))


def parse(expression: str) -> Cron:
    """Parse a five-field cron expression; raises ``CronError`` naming the bad field."""
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(f"expected 5 fields (minute hour day month weekday), got {len(parts)}")
    parsed = [_parse_field(part, i) for i, part in enumerate(parts)]
    return Cron(
        minutes=parsed[0][0],
        hours=parsed[1][0],
        days=parsed[2][0],
        months=parsed[3][0],
        weekdays=parsed[4][0],
        days_restricted=parsed[2][1],
        weekdays_restricted=parsed[4][1],
    )


def next_run(expression: str, time_zone: str, after: dt.datetime) -> dt.datetime | None:
    """The first run strictly after ``after`` (aware), in ``time_zone``; None if none in 5 years."""
    cron = parse(expression)
    zone = ZoneInfo(time_zone)
    local = after.astimezone(zone).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    day = local.date()
    for _ in range(366 * 5):
        if cron.matches_day(day):
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    candidate = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                    if candidate >= local:
                        return candidate
        day += dt.timedelta(days=1)
        local = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
    return None
