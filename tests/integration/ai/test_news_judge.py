"""The closing-bet news component's judge with the real SDK: the model's score when it passes
the checks, the keyword path (1 if any news) when it does not or no key is set, the lexicon
with KRSTOCK_AI_NEWS_SOURCE=rules — and a record per candidate either way."""

from __future__ import annotations

from datetime import date

import pytest
from ai_seed import gemini_settings
from helpers.fake_gemini import FakeGemini, json_answer
from sqlalchemy import Engine

from krstock.ai.news_judge import news_judge
from krstock.config import Settings

pytestmark = pytest.mark.integration
DAY = date(2026, 2, 5)
NEWS = {
    "111111": [
        {
            "title": "에이사, 1,200억원 규모 공급계약 체결",
            "source": "연합뉴스",
            "published_at": "2026-02-05T09:10:00+09:00",
            "url": "https://n.news.naver.com/article/001/1",
        },
        {
            "title": "에이사 상한가",
            "source": "한국경제",
            "published_at": "2026-02-05T10:00:00+09:00",
            "url": "https://n.news.naver.com/article/015/2",
        },
    ],
    "222222": [
        {
            "title": "비사, 전환사채 발행 결정",
            "source": "이데일리",
            "published_at": "2026-02-05T08:00:00+09:00",
            "url": "https://n.news.naver.com/article/018/3",
        }
    ],
}
CANDIDATES = [
    ("111111", "에이사", {"change_pct": 15.2, "trading_value": 150_000_000_000}),
    ("222222", "비사", {"change_pct": 7.1, "trading_value": 60_000_000_000}),
    ("333333", "씨사", {"change_pct": 6.0, "trading_value": 55_000_000_000}),  # no news
]


def test_llm_scores_are_used_when_they_pass_and_rejected_ones_are_not(
    db_engine: Engine, fake_gemini: FakeGemini, redis_url: str
) -> None:
    fake_gemini.script(
        json_answer({"score": 3, "reason": "N1 1,200억원 공급계약, N2 상한가", "evidence": ["N1"]}),
        # Invented figure twice: repaired once, then rejected.
        json_answer({"score": 2, "reason": "발행주식수의 약 13% 희석", "evidence": ["N1"]}),
        json_answer({"score": 2, "reason": "발행주식수의 약 13% 희석", "evidence": ["N1"]}),
    )
    judge = news_judge(db_engine, gemini_settings(fake_gemini, redis_url))
    scores, records = judge.judge(DAY, CANDIDATES, NEWS)
    assert scores == {"111111": {"score": 3, "reason": "N1 1,200억원 공급계약, N2 상한가"}}
    assert records["111111"]["source"] == "gemini" and records["111111"]["grounded"]
    assert records["111111"]["lexicon_score"] == 3  # 공급계약, 상한가: the rules agree here
    rejected = records["222222"]
    assert (rejected["source"], rejected["status"]) == ("rules", "rejected")
    assert "13%" in rejected["note"] and rejected["lexicon_score"] == 0
    assert "333333" not in records  # no news: no model call, component 0
    assert len(fake_gemini.requests) == 3
    prompt = fake_gemini.requests[0].body["contents"][0]["parts"][0]["text"]
    assert "[N1]" in prompt and "연합뉴스" in prompt and "2026-02-05" in prompt


def test_without_a_key_the_keyword_path_is_recorded(db_engine: Engine) -> None:
    judge = news_judge(db_engine, Settings(gemini_api_key=None))
    scores, records = judge.judge(DAY, CANDIDATES, NEWS)
    assert scores == {}  # the engine's keyword path: 1 if any news (the monolith)
    assert {r["status"] for r in records.values()} == {"keyword"}
    assert {r["source"] for r in records.values()} == {"rules"}


def test_rules_mode_uses_the_lexicon(db_engine: Engine) -> None:
    judge = news_judge(db_engine, Settings(gemini_api_key=None, ai_news_source="rules"))
    scores, _ = judge.judge(DAY, CANDIDATES, NEWS)
    assert {t: s["score"] for t, s in scores.items()} == {"111111": 3, "222222": 0}
