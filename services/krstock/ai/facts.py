"""Fact sheets: what the model may know about one stock on one signal date, with stable ids.

``F1``… are figures (prices, flows, scores, the market gate), ``N1``… news items with their date,
source and *our* URL (from our collectors, never the model), ``D1``… filings. A missing value is
stated as missing ("없음 — 추정 금지"), because models invent what is left out. News dated after
the signal date never enters a sheet. The sheet's digest is part of the LLM cache key.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

from krstock.ai.numbers import numbers_in

KST = ZoneInfo("Asia/Seoul")
MISSING = "없음 (데이터 없음 — 추정하지 말 것)"
SUMMARY_CHARS = 200  # the monolith cut each news summary to 200 characters
NEWS_LOOKBACK_DAYS = 7  # older news says little about today's move (the monolith: 2 days)

FactKind = Literal["figure", "news", "filing"]
AMOUNT = "금액"  # a figure unit: KRW shown in 조/억/만 (prices use "원", shown exactly)


@dataclass(frozen=True)
class Fact:
    id: str
    kind: FactKind
    label: str
    text: str
    numbers: tuple[float, ...] = ()
    day: date | None = None
    url: str | None = None
    source: str | None = None

    def line(self) -> str:
        return f"[{self.id}] {self.label}: {self.text}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "label": self.label}
        out["text"] = self.text
        if self.day is not None:
            out["date"] = self.day.isoformat()
        if self.url:
            out["url"] = self.url
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class FactSheet:
    ticker: str
    name: str
    signal_date: date
    strategy: str
    facts: tuple[Fact, ...] = field(default_factory=tuple)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(f.id for f in self.facts)

    def by_id(self, fact_id: str) -> Fact | None:
        return next((f for f in self.facts if f.id == fact_id), None)

    def news(self) -> list[Fact]:
        return [f for f in self.facts if f.kind in ("news", "filing")]

    def numbers(self) -> list[float]:
        return [n for f in self.facts for n in f.numbers]

    def dates(self) -> set[date]:
        days = {f.day for f in self.facts if f.day is not None}
        days.add(self.signal_date)
        return days

    def text(self) -> str:
        head = f"종목: {self.name} ({self.ticker}), 신호일: {self.signal_date.isoformat()}"
        return "\n".join([head, *(f.line() for f in self.facts)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "name": self.name,
            "signal_date": self.signal_date.isoformat(),
            "strategy": self.strategy,
            "facts": [f.as_dict() for f in self.facts],
        }

    def digest(self) -> str:
        """A hash of everything the model sees: equal facts, equal digest (the cache key)."""
        return hashlib.sha256(orjson.dumps(self.as_dict(), option=orjson.OPT_SORT_KEYS)).hexdigest()


def korean_amount(value: float) -> str:
    """KRW in the units Korean readers use: 1조 2,345억원, 5,563억원, 1,234만원, 950원."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v >= 1e12:
        jo, eok = divmod(round(v / 1e8), 10_000)
        return f"{sign}{jo:,}조 {eok:,}억원" if eok else f"{sign}{jo:,}조원"
    if v >= 1e8:
        return f"{sign}{round(v / 1e8):,}억원"
    if v >= 1e4:
        return f"{sign}{round(v / 1e4):,}만원"
    return f"{sign}{round(v):,}원"


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class SheetBuilder:
    """Numbered facts in the order they are added (ids are stable for equal inputs)."""

    def __init__(self, ticker: str, name: str, signal_date: date, strategy: str) -> None:
        self.head = (ticker, name, signal_date, strategy)
        self.facts: list[Fact] = []
        self._counts = {"F": 0, "N": 0, "D": 0}

    def _id(self, prefix: str) -> str:
        self._counts[prefix] += 1
        return f"{prefix}{self._counts[prefix]}"

    def figure(self, label: str, value: Any, unit: str = "", digits: int = 0) -> None:
        number = _finite(value)
        in_label = tuple(numbers_in(label))  # "외국인 5일 순매수": the 5 is quotable too
        if number is None:
            self.facts.append(Fact(self._id("F"), "figure", label, MISSING, in_label))
            return
        if unit == AMOUNT:
            shown = korean_amount(number)
            # Both the exact amount and the rounded one as shown may be quoted.
            rounded = _amount_as_shown(number)
            numbers: tuple[float, ...] = (number, rounded)
        else:
            shown = f"{number:,.{digits}f}{unit}"
            numbers = (number, round(number, digits))
        self.facts.append(Fact(self._id("F"), "figure", label, shown, numbers + in_label))

    def word(self, label: str, text: str | None) -> None:
        quoted = tuple(numbers_in(f"{label} {text or ''}"))
        self.facts.append(Fact(self._id("F"), "figure", label, text or MISSING, quoted))

    def news(self, item: Mapping[str, Any], *, filing: bool = False) -> None:
        day = published_day(item.get("published_at"))
        title = str(item.get("title") or "").strip()
        summary = str(item.get("summary") or "").strip()[:SUMMARY_CHARS]
        source = str(item.get("source") or "").strip() or None
        text = title if not summary else f"{title} — {summary}"
        text += f" ({source or '출처 없음'}, {day.isoformat() if day else '날짜 없음'})"
        self.facts.append(
            Fact(
                self._id("D" if filing else "N"),
                "filing" if filing else "news",
                "공시" if filing else "뉴스",
                text,
                tuple(numbers_in(title + " " + summary)),
                day,
                str(item.get("url") or "") or None,
                source,
            )
        )

    def build(self) -> FactSheet:
        ticker, name, day, strategy = self.head
        return FactSheet(ticker, name, day, strategy, tuple(self.facts))


def _amount_as_shown(value: float) -> float:
    v = abs(value)
    if v >= 1e8:
        return math.copysign(round(v / 1e8) * 1e8, value)
    if v >= 1e4:
        return math.copysign(round(v / 1e4) * 1e4, value)
    return float(round(value))


def published_day(value: Any) -> date | None:
    """The KST calendar day of a published_at (datetime, ISO text or date); None if unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=KST)
        return moment.astimezone(KST).date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    with contextlib.suppress(ValueError):  # not ISO with a time: try a bare date next
        return published_day(datetime.fromisoformat(text.replace("Z", "+00:00")))
    try:
        return date.fromisoformat(text[:10].replace(".", "-"))
    except ValueError:
        return None


def usable_news(
    items: Iterable[Mapping[str, Any]], signal_date: date, *, limit: int = 5
) -> list[Mapping[str, Any]]:
    """News dated on or before the signal date and not older than the lookback, newest first.
    Undated items are left out: a backtest must not see news it cannot date."""
    oldest = signal_date - timedelta(days=NEWS_LOOKBACK_DAYS)
    dated = []
    for item in items:
        day = published_day(item.get("published_at"))
        if day is not None and oldest <= day <= signal_date:
            dated.append((day, item))
    dated.sort(key=lambda pair: pair[0], reverse=True)
    return [item for _, item in dated[:limit]]


def end_of_day_kst(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=KST)
