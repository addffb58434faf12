"""Numbers in Korean text, the validators and the rule lexicon, without a model."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from krstock.ai import rules
from krstock.ai.answers import Claim, NewsJudgement, Recommendation
from krstock.ai.facts import AMOUNT, MISSING, SheetBuilder, korean_amount, usable_news
from krstock.ai.numbers import dates_in, urls_in, written_numbers
from krstock.ai.validate import Rejected, check, parse, violations

DAY = date(2026, 2, 5)


def sheet(news: list[dict] | None = None):
    b = SheetBuilder("005930", "삼성전자", DAY, "vcp")
    b.figure("종가", 50_000, "원")
    b.figure("거래대금", 556_312_345_678, AMOUNT)
    b.figure("등락률", 12.34, "%", 2)
    b.figure("외국인 5일 순매수", 120_000, "주")
    b.figure("기관 5일 순매수", None, "주")
    for item in news or []:
        b.news(item)
    return b.build()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1조 2,345억원", 1_234_500_000_000),
        ("5,563억", 556_300_000_000),
        ("12.3%", 12.3),
        ("1.5만주", 15_000),
        ("50,000원", 50_000),
    ],
)
def test_korean_numbers_are_read_with_their_units(text: str, value: float) -> None:
    (written,) = written_numbers(text)
    assert written.value == pytest.approx(value)


def test_ids_urls_and_dates_are_not_read_as_numbers() -> None:
    text = "N1 기사(https://example.com/a/123) 2026-02-05, 2월 5일"
    assert written_numbers(text) == []
    assert urls_in(text) == ["https://example.com/a/123)"]
    assert [d for _, d in dates_in(text, 2026)] == [DAY, DAY]


def test_amounts_are_shown_in_korean_units() -> None:
    assert korean_amount(1_234_500_000_000) == "1조 2,345억원"
    assert korean_amount(556_312_345_678) == "5,563억원"
    assert korean_amount(-12_345_678) == "-1,235만원"


def test_missing_values_are_stated_as_missing() -> None:
    facts = sheet()
    assert facts.by_id("F5") is not None and facts.by_id("F5").text == MISSING  # type: ignore[union-attr]


def recommendation(reason: str, evidence: tuple[str, ...] = ("F1",)) -> Recommendation:
    return Recommendation(
        action="HOLD",
        confidence=50,
        reason=reason,
        claims=[Claim(text="근거", evidence=list(evidence))],
    )


@pytest.mark.parametrize(
    "reason",
    [
        "종가 50,000원, 거래대금 5,563억원",
        "등락률 12.3% 상승, 외국인 5일 12만주 순매수",
        "등락률 12.34%",
        "신뢰도 50",
    ],
)
def test_numbers_quoted_from_facts_pass(reason: str) -> None:
    assert violations(recommendation(reason), sheet()) == []


@pytest.mark.parametrize(
    ("reason", "problem"),
    [
        ("발행주식수의 약 13%", "13%"),
        ("+28% 상승 여력", "28%"),
        ("거래대금 5,600억원", "5,600억"),
        ("거래대금5,600억원", "5,600억"),  # glued to Hangul: still read
        ("등락률 12.4%", "12.4"),
        ("출처 https://finance.naver.com/item/news.naver?id=ABCD12345", "URL"),
        ("2025-11-04 공시", "날짜"),
    ],
)
def test_numbers_urls_and_dates_not_in_facts_are_violations(reason: str, problem: str) -> None:
    found = violations(recommendation(reason), sheet())
    assert found and problem in " ".join(found)


def test_unknown_evidence_id_is_a_violation() -> None:
    assert "N3" in " ".join(violations(recommendation("근거", ("N3",)), sheet()))


def test_schema_problems_come_from_response_text() -> None:
    with pytest.raises(Rejected, match="score"):
        parse(NewsJudgement, '{"score": 5, "reason": "x"}')
    with pytest.raises(Rejected, match="비어"):
        parse(NewsJudgement, None)  # a SAFETY finish has no text
    with pytest.raises(Rejected):
        parse(NewsJudgement, '```json\n{"score": 1}\n```')
    ok = check(NewsJudgement, '{"score": 0, "reason": "뉴스 없음", "evidence": []}', sheet())
    assert ok.score == 0


def test_a_positive_news_score_without_news_is_a_violation() -> None:
    answer = NewsJudgement(score=2, reason="호재", evidence=[])
    assert violations(answer, sheet()) == ["뉴스가 없는데 점수가 0보다 큽니다"]


def test_news_after_the_signal_date_or_undated_never_reaches_a_sheet() -> None:
    items: list[dict[str, Any]] = [
        {"title": "오늘", "published_at": datetime(2026, 2, 5, 6, tzinfo=UTC)},
        {"title": "내일", "published_at": datetime(2026, 2, 5, 16, tzinfo=UTC)},  # 2/6 KST
        {"title": "날짜 없음", "published_at": None},
        {"title": "오래됨", "published_at": "2025-12-01"},
    ]
    assert [i["title"] for i in usable_news(items, DAY)] == ["오늘"]


@pytest.mark.parametrize(
    ("title", "score"),
    [
        ("4분기 적자 축소, 흑자전환 기대", 2),
        ("1,000억원 규모 공급계약 해지", 0),
        ("300억원 규모 전환사채 발행 결정", 0),
        ("유상증자 결정", 0),
        ("무상증자 결정", 2),
        ("대규모 수주 계약체결, FDA승인", 3),
        ("주주총회 소집 공고", 1),
        ("횡령 혐의 검찰 수사", 0),
    ],
)
def test_rule_lexicon_reads_negations_and_dilutive_filings(title: str, score: int) -> None:
    facts = sheet(
        [{"title": title, "source": "연합뉴스", "published_at": "2026-02-05", "url": "u"}]
    )
    judged = rules.news_judgement(facts)
    assert judged.score == score
    # Its reason quotes only ids and lexicon words: it passes the same checks as a model.
    assert violations(judged, facts) == []


def test_rule_recommendation_cites_facts_and_passes_the_checks() -> None:
    b = SheetBuilder("005930", "삼성전자", DAY, "vcp")
    b.figure("전략 점수", 82.5, "점", 1)
    b.figure("외국인 5일 순매수", 120_000, "주")
    b.figure("기관 5일 순매수", -3_000, "주")
    facts = b.build()
    rec = rules.recommendation(facts, "전략 점수", ("외국인 5일 순매수", "기관 5일 순매수"))
    assert (rec.action, rec.confidence) == ("BUY", 60)
    assert rec.claims[0].evidence == ["F1", "F2"]
    assert violations(rec, facts) == []


@pytest.mark.parametrize(
    ("strategy", "score", "action"),
    [
        ("vcp", 72.0, "BUY"),
        ("vcp", 9.0, "HOLD"),
        ("closing-bet", 9.0, "BUY"),
        ("closing-bet", 7.0, "HOLD"),
    ],
)
def test_rule_buy_threshold_follows_the_strategy_scale(
    strategy: str, score: float, action: str
) -> None:
    from krstock.ai.tasks import RECOMMENDATION

    b = SheetBuilder("005930", "삼성전자", DAY, strategy)
    b.figure("전략 점수", score, "점", 1)
    b.figure("외국인 5일 순매수", 1_000, "주")
    b.figure("기관 5일 순매수", 500, "주")
    facts = b.build()
    answer = RECOMMENDATION.rules(facts)
    assert isinstance(answer, Recommendation) and answer.action == action
    assert violations(answer, facts) == []  # HOLD's reason quotes no threshold either
