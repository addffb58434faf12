"""Checks on a model's answer against its fact sheet. Each check returns violations in words
the model is shown in the repair turn (and stored when the answer is finally rejected)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from pydantic import ValidationError

from krstock.ai.answers import Answer, NewsJudgement, Recommendation
from krstock.ai.facts import FactSheet
from krstock.ai.numbers import dates_in, supported, urls_in, written_numbers

A = TypeVar("A", bound=Answer)


class Rejected(Exception):
    def __init__(self, violations: list[str]) -> None:
        super().__init__("; ".join(violations))
        self.violations = violations


def parse(model: type[A], text: str | None) -> A:
    """``response.text`` as ``model`` (the SDK's ``parsed`` is silently None on bad JSON)."""
    if not text or not text.strip():
        raise Rejected(["답이 비어 있습니다 (JSON 객체가 필요합니다)"])
    try:
        return model.model_validate_json(text.strip())
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'JSON'}: {err['msg']}"
            for err in exc.errors()[:5]
        ]
        raise Rejected([f"스키마 위반 — {p}" for p in problems]) from None


def _texts(answer: Answer) -> list[str]:
    if isinstance(answer, Recommendation):
        return [answer.reason, *(c.text for c in answer.claims)]
    if isinstance(answer, NewsJudgement):
        return [answer.reason]
    return []


def _evidence(answer: Answer) -> list[str]:
    if isinstance(answer, Recommendation):
        return [e for c in answer.claims for e in c.evidence]
    if isinstance(answer, NewsJudgement):
        return list(answer.evidence)
    return []


def _own_numbers(answer: Answer) -> tuple[float, ...]:
    """The answer's own fields may be repeated in its reason ("신뢰도 60")."""
    if isinstance(answer, Recommendation):
        return (float(answer.confidence),)
    if isinstance(answer, NewsJudgement):
        return (float(answer.score),)
    return ()


def violations(answer: Answer, sheet: FactSheet) -> list[str]:
    """Evidence ids exist; every number matches a fact; no URL; no date that is not a fact's;
    news cited is dated on or before the signal date."""
    found: list[str] = []
    ids = sheet.ids
    for fact_id in _evidence(answer):
        fact = sheet.by_id(fact_id)
        if fact_id not in ids or fact is None:
            found.append(f"근거 id {fact_id!r}는 사실표에 없습니다")
        elif fact.day is not None and fact.day > sheet.signal_date:
            found.append(f"근거 {fact_id}는 신호일 이후의 뉴스입니다")
    if isinstance(answer, NewsJudgement) and answer.score > 0 and not sheet.news():
        found.append("뉴스가 없는데 점수가 0보다 큽니다")
    facts = sheet.numbers()
    known_days = sheet.dates()
    for text in _texts(answer):
        found.extend(f"URL {u!r}는 사실표에서 온 것이 아닙니다" for u in urls_in(text))
        for written, day in dates_in(text, sheet.signal_date.year):
            if day is None or day not in known_days:
                found.append(f"날짜 {written!r}는 사실표에 없습니다")
        found.extend(
            f"숫자 {w.text!r}는 어떤 사실에도 없습니다"
            for w in written_numbers(text)
            if not supported(w, facts, _own_numbers(answer))
        )
    return list(dict.fromkeys(found))


def check(model: type[A], text: str | None, sheet: FactSheet) -> A:
    """The validated answer, or ``Rejected`` with every violation found."""
    answer = parse(model, text)
    problems = violations(answer, sheet)
    if problems:
        raise Rejected(problems)
    return answer


def describe(problems: Iterable[str]) -> str:
    return "; ".join(problems)
