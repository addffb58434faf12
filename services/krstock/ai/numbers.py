"""Numbers, dates and URLs in Korean financial text, as the validator reads them.

"1조 2,345억원" is 1,234,500,000,000; "5,563억" 556,300,000,000; "12.3%" 12.3; "1.5만주" 15,000.
A written number carries its precision: "12.3%" stands for anything that rounds to it, so a
fact of 12.34 supports it and one of 12.4 does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# Longest first in the pattern: "천억" is one unit, not "천" then "억". A number glued to Hangul
# ("영업이익1조") is still read; one inside a Latin word or after a dot ("v2", ".5") is not.
UNITS = {
    "천억": 1e11, "백억": 1e10, "십억": 1e9, "천만": 1e7, "백만": 1e6,
    "조": 1e12, "억": 1e8, "만": 1e4, "천": 1e3,
}  # fmt: skip
_UNIT = "|".join(sorted(UNITS, key=len, reverse=True))
_NUMBER = re.compile(
    rf"(?<![A-Za-z0-9_.])[-+−]?(\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.(\d+))?\s*({_UNIT})?(\s*%|\s*퍼센트)?"
)
URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|co\.kr|kr|net|org)(?:/\S*)?", re.I)
ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?!\d)")
KO_DATE = re.compile(r"(?:(\d{4})\s*년\s*)?(\d{1,2})\s*월\s*(\d{1,2})\s*일")
COMPACT_DATE = re.compile(r"(?<!\d)(20\d{2})(0[1-9]|1[0-2])([0-2]\d|3[01])(?!\d)")
_YEAR = re.compile(r"(?<!\d)(\d{4})\s*년")
FACT_ID = re.compile(r"\b[FND]\d{1,3}\b")


@dataclass(frozen=True)
class Written:
    """A number as written: its value and half a unit of its last digit (the rounding)."""

    text: str
    value: float
    tolerance: float
    percent: bool = False
    has_unit: bool = False


def read_numbers(text: str) -> list[Written]:
    """Every amount written in ``text``, a 조/억/만 run ("1조 2,345억") read as one amount.
    The caller takes out what is not a quoted number first (dates, URLs, fact ids)."""
    found: list[Written] = []
    previous_unit = None
    previous_end = -10
    for match in _NUMBER.finditer(text):
        whole, decimals, unit = match.group(1), match.group(2) or "", match.group(3)
        value = float(whole.replace(",", "") + ("." + decimals if decimals else ""))
        scale = UNITS.get(unit or "", 1.0)
        written = Written(
            match.group(0).strip().lstrip("+-−"),  # signs are never compared
            value * scale,
            0.5 * 10 ** -len(decimals) * scale,
            percent=bool(match.group(4)),
            has_unit=unit is not None,
        )
        gap = text[previous_end : match.start()]
        if (
            found
            and unit
            and previous_unit
            and not found[-1].percent
            and UNITS[unit] < UNITS[previous_unit]
            and gap.strip() == ""
        ):
            last = found.pop()
            written = Written(
                f"{last.text} {written.text}",
                last.value + written.value,
                written.tolerance,
                percent=written.percent,
                has_unit=True,
            )
        found.append(written)
        previous_unit, previous_end = unit, match.end()
    return found


def strip_non_numbers(text: str) -> str:
    """Text without fact ids (N1), URLs and dates: what is left are the quoted numbers."""
    for pattern in (URL, ISO_DATE, KO_DATE, _YEAR, FACT_ID):
        text = pattern.sub(" ", text)
    return text


def written_numbers(text: str) -> list[Written]:
    return read_numbers(strip_non_numbers(text))


def numbers_in(text: str) -> list[float]:
    return [w.value for w in written_numbers(text)]


def supported(written: Written, facts: list[float], extra: tuple[float, ...] = ()) -> bool:
    """Whether a written number is a (rounded) quote of some fact; signs are not compared
    ("3.2% 하락" quotes a change of -3.2)."""
    target = abs(written.value)
    for fact in (*facts, *extra):
        if abs(target - abs(fact)) <= written.tolerance + 1e-9 * max(1.0, abs(fact)):
            return True
    return False


def urls_in(text: str) -> list[str]:
    return [m.group(0) for m in URL.finditer(text)]


def dates_in(text: str, default_year: int) -> list[tuple[str, date | None]]:
    """Dates written in ``text`` (ISO-like and "M월 D일"); an impossible one is (text, None)."""
    out: list[tuple[str, date | None]] = []
    for match in ISO_DATE.finditer(text):
        out.append((match.group(0), _date(match.group(1), match.group(2), match.group(3))))
    for match in KO_DATE.finditer(text):
        year = match.group(1) or str(default_year)
        out.append((match.group(0), _date(year, match.group(2), match.group(3))))
    return out


def _date(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None
