"""The chat answer's number check: units (%, 원, 만/억/조 runs), written precision, dates."""

from __future__ import annotations

from krstock.ai.chat_numbers import Facts, numbers_in, unsupported

FACTS = Facts.of(
    {
        "ticker": "005930",
        "date": "2026-12-04",
        "close": 71200.0,
        "change_pct": 3.2145,
        "trading_value": 1_234_500_000_000,
        "reasons": ["KOSPI 2,510 상회"],
    }
)


def test_amounts_are_read_with_their_units() -> None:
    read = [
        (n.text, n.value, n.percent) for n in numbers_in("1조 2,345억원, +3.2%, 3천억, 71,200원")
    ]
    assert read == [
        ("1조 2,345억", 1_234_500_000_000.0, False),
        ("3.2%", 3.2, True),
        ("3천억", 300_000_000_000.0, False),
        ("71,200", 71_200.0, False),
    ]


def test_grounded_numbers_pass_at_their_written_precision() -> None:
    answer = (
        "2026-12-04 삼성전자(005930) 종가 71,200원, +3.2% 상승, 거래대금 약 1.2조원 "
        "(1조 2,345억원), KOSPI 2,510. 상위 3개 종목 중 1위."
    )
    assert unsupported(answer, FACTS) == []
    assert unsupported("3.2% 하락", Facts.of({"change_pct": -3.21})) == []  # sign not compared


def test_numbers_and_dates_in_no_fact_are_named() -> None:
    answer = "발행주식수의 약 13%, 목표가 80,000원, 12월 5일 발표, 상위 3개"
    assert unsupported(answer, FACTS) == ["12월 5일", "13%", "80,000"]
    assert unsupported("71,300원", FACTS) == ["71,300"]  # one digit off is not a match
    assert unsupported("3.21%", Facts.of({"pct": 3.2})) == ["3.21%"]  # more precise than the fact


def test_the_users_own_numbers_count() -> None:
    assert unsupported("50만원으로 살 수 있는", Facts.of({}, "예산 50만원")) == []


def test_a_url_must_be_one_a_tool_returned() -> None:
    facts = Facts.of({"news": [{"url": "https://www.yna.co.kr/view/AKR20261204000100003"}]})
    ours = "연합뉴스 기사: https://www.yna.co.kr/view/AKR20261204000100003."
    assert unsupported(ours, facts) == []  # its digits are not numbers to check
    made_up = "자세한 내용: https://news.example.com/article/2025110408151234567"
    assert unsupported(made_up, facts) == ["https://news.example.com/article/2025110408151234567"]


def test_a_number_glued_to_hangul_is_still_checked() -> None:
    # "영업이익5조" has no space: the number is read all the same (only Latin words and
    # decimals keep their digits to themselves: "v2", "F12" fact ids are not amounts).
    assert unsupported("영업이익5조, 등락률3.2%", FACTS) == ["5조"]
    assert [n.text for n in numbers_in("v2 모델, 종가71,200원")] == ["71,200"]
