"""Is every number in a chat answer one the tools returned? (The model may judge facts, never
supply them: docs/ai.md.)

An answer's numbers are read with their units — ``%``, ``원``, the Korean ``만/억/조`` (a run
such as ``1조 2,345억`` is one amount) — and each must match a number found in the tool results
(or the user's own message) to the precision it is written with: ``3.2%`` matches 3.2145,
``2조`` matches 1,980,000,000,000, ``71,200원`` only 71,200. Signs are not compared (``-3.2%``
and ``3.2% 하락`` say the same). Dates (``2026-12-04``, ``12월 4일``) must appear as dates in
the results. Small counts without a unit (0-10: "상위 3개", list numbering) are let through.
A web address must be exactly one a tool returned (the model never supplies a link).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from krstock.ai.numbers import COMPACT_DATE, ISO_DATE, KO_DATE, Written, read_numbers

FREE_COUNT_MAX = 10
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]]+", re.I)


def urls_in(text: str) -> list[str]:
    """Web addresses written in ``text`` (trailing punctuation left out)."""
    return [m.group(0).rstrip(".,;:!?") for m in _URL.finditer(text)]


def numbers_in(text: str) -> list[Written]:
    """The amounts written in ``text`` (dates taken out first), a 조/억/만 run merged into one."""
    for pattern in (ISO_DATE, KO_DATE, COMPACT_DATE):
        text = pattern.sub(" ", text)
    return read_numbers(text)


def dates_in(text: str) -> set[tuple[int | None, int, int]]:
    """(year or None, month, day) of every date written in ``text``."""
    found: set[tuple[int | None, int, int]] = set()
    for y, m, d in ISO_DATE.findall(text) + COMPACT_DATE.findall(text):
        found.add((int(y), int(m), int(d)))
    for y, m, d in KO_DATE.findall(text):
        found.add((int(y) if y else None, int(m), int(d)))
    return found


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


@dataclass
class Facts:
    """The numbers and dates an answer may use."""

    values: list[float]
    dates: set[tuple[int | None, int, int]]
    urls: set[str]

    @classmethod
    def of(cls, *sources: Any) -> Facts:
        values: list[float] = []
        dates: set[tuple[int | None, int, int]] = set()
        urls: set[str] = set()
        for leaf in _leaves(list(sources)):
            if isinstance(leaf, bool) or leaf is None:
                continue
            if isinstance(leaf, (int, float)):
                if math.isfinite(leaf):
                    values.append(float(leaf))
                continue
            text = str(leaf)
            urls.update(urls_in(text))
            dates |= dates_in(text)
            values += [n.value for n in numbers_in(text)]
        return cls(values, dates, urls)

    def has_date(self, date: tuple[int | None, int, int]) -> bool:
        year, month, day = date
        return any(
            (m, d) == (month, day) and (year is None or y is None or y == year)
            for y, m, d in self.dates
        )

    def has(self, number: Written) -> bool:
        wanted = abs(number.value)
        return any(abs(abs(v) - wanted) <= number.tolerance + 1e-9 for v in self.values)


def unsupported(answer: str, facts: Facts) -> list[str]:
    """What in ``answer`` matches no fact (empty: every number, date and URL is grounded).
    A URL must be one a tool returned, exactly; its digits are not read as numbers."""
    missing = [url for url in urls_in(answer) if url not in facts.urls]
    answer = _URL.sub(" ", answer)
    missing += [
        f"{y}-{m:02d}-{d:02d}" if y else f"{m}월 {d}일"
        for y, m, d in sorted(dates_in(answer), key=str)
        if not facts.has_date((y, m, d))
    ]
    for number in numbers_in(answer):
        free = (
            not number.has_unit
            and not number.percent
            and number.tolerance >= 0.5
            and abs(number.value) <= FREE_COUNT_MAX
        )
        if not free and not facts.has(number):
            missing.append(number.text)
    return missing
