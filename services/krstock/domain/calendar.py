"""The KRX trading calendar (Korea Exchange, KST): holidays 2024–2027 and late-opening days.

Sources and uncertainty:
- 2024 and 2025 are KRX's published closures (휴장일), including the temporary holidays
  (2024-04-10 general election, 2024-10-01 Armed Forces Day, 2025-01-27, 2025-06-03 presidential
  election), Labour Day (May 1) and the year-end closing day (Dec 31).
- 2026 and 2027 are computed from the statutory rules: the lunar holidays (Seollal, Buddha's
  birthday, Chuseok) converted to solar dates, the substitute-holiday rules (Seollal/Chuseok when
  a day falls on a Sunday or another holiday; Children's Day, the national days, Buddha's birthday
  and Christmas when they fall on a weekend), the 2026-06-03 local elections, May 1 and Dec 31.
  The government may still add temporary holidays (임시공휴일), and a proposed restoration of
  Constitution Day (Jul 17) is not included. Corrections come from the environment without a code
  change: ``KRSTOCK_KRX_EXTRA_HOLIDAYS`` / ``KRSTOCK_KRX_EXTRA_TRADING_DAYS`` (comma-separated
  ISO dates), see the worker section of :class:`krstock.config.Settings`.
- Late openings: the first trading day of a year opens at 10:00 (closes 15:30); on the college
  entrance exam day (수능) the market opens at 10:00 and closes at 16:30. The 2027 exam date is
  the customary third Thursday of November, not yet announced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

KST = ZoneInfo("Asia/Seoul")

NORMAL_OPEN = time(9, 0)
NORMAL_CLOSE = time(15, 30)
LATE_OPEN = time(10, 0)

KNOWN_YEARS = range(2024, 2028)

# Date -> reason. Weekend days are not listed (they are closed anyway).
KRX_HOLIDAYS: dict[date, str] = {
    # 2024 (KRX published)
    date(2024, 1, 1): "New Year's Day",
    date(2024, 2, 9): "Seollal",
    date(2024, 2, 12): "Seollal (substitute)",
    date(2024, 3, 1): "Independence Movement Day",
    date(2024, 4, 10): "General election",
    date(2024, 5, 1): "Labour Day (KRX closed)",
    date(2024, 5, 6): "Children's Day (substitute)",
    date(2024, 5, 15): "Buddha's Birthday",
    date(2024, 6, 6): "Memorial Day",
    date(2024, 8, 15): "Liberation Day",
    date(2024, 9, 16): "Chuseok",
    date(2024, 9, 17): "Chuseok",
    date(2024, 9, 18): "Chuseok",
    date(2024, 10, 1): "Armed Forces Day (temporary holiday)",
    date(2024, 10, 3): "National Foundation Day",
    date(2024, 10, 9): "Hangul Day",
    date(2024, 12, 25): "Christmas",
    date(2024, 12, 31): "Year-end closing",
    # 2025 (KRX published)
    date(2025, 1, 1): "New Year's Day",
    date(2025, 1, 27): "Temporary holiday",
    date(2025, 1, 28): "Seollal",
    date(2025, 1, 29): "Seollal",
    date(2025, 1, 30): "Seollal",
    date(2025, 3, 3): "Independence Movement Day (substitute)",
    date(2025, 5, 1): "Labour Day (KRX closed)",
    date(2025, 5, 5): "Children's Day / Buddha's Birthday",
    date(2025, 5, 6): "Substitute holiday",
    date(2025, 6, 3): "Presidential election",
    date(2025, 6, 6): "Memorial Day",
    date(2025, 8, 15): "Liberation Day",
    date(2025, 10, 3): "National Foundation Day",
    date(2025, 10, 6): "Chuseok",
    date(2025, 10, 7): "Chuseok",
    date(2025, 10, 8): "Chuseok (substitute)",
    date(2025, 10, 9): "Hangul Day",
    date(2025, 12, 25): "Christmas",
    date(2025, 12, 31): "Year-end closing",
    # 2026 (computed: Seollal Feb 16-18, Buddha's Birthday May 24 (Sun), Chuseok Sep 24-26)
    date(2026, 1, 1): "New Year's Day",
    date(2026, 2, 16): "Seollal",
    date(2026, 2, 17): "Seollal",
    date(2026, 2, 18): "Seollal",
    date(2026, 3, 2): "Independence Movement Day (substitute for Sun Mar 1)",
    date(2026, 5, 1): "Labour Day (KRX closed)",
    date(2026, 5, 5): "Children's Day",
    date(2026, 5, 25): "Buddha's Birthday (substitute for Sun May 24)",
    date(2026, 6, 3): "Local elections",
    date(2026, 8, 17): "Liberation Day (substitute for Sat Aug 15)",
    date(2026, 9, 24): "Chuseok",
    date(2026, 9, 25): "Chuseok",
    date(2026, 10, 5): "National Foundation Day (substitute for Sat Oct 3)",
    date(2026, 10, 9): "Hangul Day",
    date(2026, 12, 25): "Christmas",
    date(2026, 12, 31): "Year-end closing",
    # 2027 (computed: Seollal Feb 6-8 + substitute Feb 9, Buddha's Birthday May 13,
    # Chuseok Sep 14-16)
    date(2027, 1, 1): "New Year's Day",
    date(2027, 2, 8): "Seollal",
    date(2027, 2, 9): "Seollal (substitute for Sun Feb 7)",
    date(2027, 3, 1): "Independence Movement Day",
    date(2027, 5, 5): "Children's Day",
    date(2027, 5, 13): "Buddha's Birthday",
    date(2027, 8, 16): "Liberation Day (substitute for Sun Aug 15)",
    date(2027, 9, 14): "Chuseok",
    date(2027, 9, 15): "Chuseok",
    date(2027, 9, 16): "Chuseok",
    date(2027, 10, 4): "National Foundation Day (substitute for Sun Oct 3)",
    date(2027, 10, 11): "Hangul Day (substitute for Sat Oct 9)",
    date(2027, 12, 27): "Christmas (substitute for Sat Dec 25)",
    date(2027, 12, 31): "Year-end closing",
}

# College scholastic ability test (수능): the market opens at 10:00 and closes at 16:30.
SUNEUNG_DAYS: frozenset[date] = frozenset(
    {date(2024, 11, 14), date(2025, 11, 13), date(2026, 11, 19), date(2027, 11, 18)}
)
SUNEUNG_CLOSE = time(16, 30)


class OutsideCalendarError(ValueError):
    """A date outside the years whose holidays are known."""


@dataclass(frozen=True)
class Session:
    """One trading day's regular session in KST."""

    day: date
    open: time
    close: time
    note: str = ""

    @property
    def close_delay(self) -> timedelta:
        """How much later than 15:30 the market closes (jobs after the close shift by this)."""
        return datetime.combine(self.day, self.close) - datetime.combine(self.day, NORMAL_CLOSE)


class KrxCalendar:
    """Trading days of the KRX. ``extra_holidays``/``extra_trading_days`` correct the table."""

    def __init__(
        self,
        extra_holidays: Iterable[date] = (),
        extra_trading_days: Iterable[date] = (),
        *,
        strict: bool = True,
    ) -> None:
        self._holidays = {d: r for d, r in KRX_HOLIDAYS.items()}
        for d in extra_holidays:
            self._holidays[d] = "Extra holiday (configured)"
        self._forced_open = frozenset(extra_trading_days)
        for d in self._forced_open:
            self._holidays.pop(d, None)
        self.strict = strict

    def _check(self, day: date) -> None:
        if self.strict and day.year not in KNOWN_YEARS:
            raise OutsideCalendarError(
                f"{day.isoformat()} is outside the KRX holiday table "
                f"({KNOWN_YEARS.start}-{KNOWN_YEARS.stop - 1}); extend krstock.domain.calendar"
            )

    def holiday_reason(self, day: date) -> str | None:
        """Why the market is closed that day, or None when it trades."""
        self._check(day)
        if day in self._forced_open:
            return None
        if day.weekday() >= 5:
            return "Weekend"
        return self._holidays.get(day)

    def is_trading_day(self, day: date) -> bool:
        return self.holiday_reason(day) is None

    def session(self, day: date) -> Session:
        """Open and close times; raises ValueError on a closed day."""
        reason = self.holiday_reason(day)
        if reason is not None:
            raise ValueError(f"{day.isoformat()} is not a KRX trading day ({reason})")
        if day in SUNEUNG_DAYS:
            return Session(day, LATE_OPEN, SUNEUNG_CLOSE, "college entrance exam day (수능)")
        if self.first_trading_day_of_year(day.year) == day:
            return Session(day, LATE_OPEN, NORMAL_CLOSE, "first trading day of the year")
        return Session(day, NORMAL_OPEN, NORMAL_CLOSE)

    def first_trading_day_of_year(self, year: int) -> date:
        day = date(year, 1, 1)
        while not self.is_trading_day(day):
            day += timedelta(days=1)
        return day

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after ``day``."""
        day += timedelta(days=1)
        while not self.is_trading_day(day):
            day += timedelta(days=1)
        return day

    def previous_trading_day(self, day: date) -> date:
        """The last trading day strictly before ``day``."""
        day -= timedelta(days=1)
        while not self.is_trading_day(day):
            day -= timedelta(days=1)
        return day

    def trading_day_on_or_before(self, day: date) -> date:
        return day if self.is_trading_day(day) else self.previous_trading_day(day)

    def trading_days(self, start: date, end: date) -> list[date]:
        """Trading days in [start, end]."""
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        out: list[date] = []
        day = start
        while day <= end:
            if self.is_trading_day(day):
                out.append(day)
            day += timedelta(days=1)
        return out


def kst_now() -> datetime:
    return datetime.now(KST)


def kst_today() -> date:
    return kst_now().date()


# Vectorized: what the sources need over a range ("weekdays minus KRX holidays").
_HOLIDAY_ARRAY = np.array(sorted(KRX_HOLIDAYS), dtype="datetime64[D]")


def krx_trading_days(start: date, end: date) -> npt.NDArray[np.datetime64]:
    """Weekdays in [start, end] minus the KRX holidays, ascending (datetime64[D])."""
    if end < start:
        return np.array([], dtype="datetime64[D]")
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1, dtype="datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return days[(weekday < 5) & ~np.isin(days, _HOLIDAY_ARRAY)]


def krx_trading_dates(start: date, end: date) -> list[date]:
    """The same days as ``datetime.date`` objects."""
    return [d.item() for d in krx_trading_days(start, end)]
