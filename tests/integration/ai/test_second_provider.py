"""The second recommendation slot from an OpenAI-compatible server (loopback fake): its own
checked answer with its own source, cache, cooldown and prices; rules when it fails checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ai_seed import DAY, gemini_settings, seed_day
from fake_openai import FakeOpenAI, completion, too_many
from helpers.fake_gemini import FakeGemini, json_answer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from krstock.ai.daily import analyze_day
from krstock.db.models import AIAnalysis, LlmCall

pytestmark = pytest.mark.integration
VCP = {"vcp": ("vcp-legacy",)}
HOLD = {
    "action": "HOLD",
    "confidence": 45,
    "reason": "근거가 더 필요",
    "claims": [{"text": "전략 점수", "evidence": ["F4"]}],
}


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    try:
        yield fake
    finally:
        fake.stop()


def test_both_slots_are_filled_by_their_own_checked_answers(
    db_engine: Engine, fake_gemini: FakeGemini, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    seed_day(db_engine)
    fake_gemini.script(json_answer({**HOLD, "action": "BUY"}))
    fake_openai.script(too_many(1), completion(HOLD))
    settings = gemini_settings(
        fake_gemini, redis_url, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.url
    )
    analyze_day(db_engine, settings, DAY, VCP, top_n=1)
    with Session(db_engine) as session:
        row = session.scalars(select(AIAnalysis)).one()
        calls = session.scalars(select(LlmCall).order_by(LlmCall.id)).all()
    assert row.recommendations["gemini"]["action"] == "BUY"
    assert row.recommendations["gpt"]["action"] == "HOLD"
    assert row.recommendations["gpt"]["source"] == "openai"
    body = fake_openai.requests[-1]["body"]
    assert body["response_format"]["type"] == "json_schema"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert len(fake_openai.requests) == 2  # the 429's Retry-After was waited out, then retried
    outcomes = [c.outcome for c in calls if c.provider == "openai"]
    assert outcomes == ["rate_limited", "accepted"]  # the 429 is on the audit trail
    openai_call = next(c for c in calls if c.provider == "openai" and c.outcome == "accepted")
    assert openai_call.cost_usd == pytest.approx((100 * 0.15 + 20 * 0.60) / 1e6)

    analyze_day(db_engine, settings, DAY, VCP, top_n=1)  # same facts: both answered by cache
    assert len(fake_openai.requests) == 2 and len(fake_gemini.requests) == 1


def test_an_unchecked_second_answer_is_rules_in_its_slot(
    db_engine: Engine, fake_gemini: FakeGemini, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    seed_day(db_engine)
    fake_gemini.script(json_answer(HOLD))
    invented = {**HOLD, "reason": "목표 주가 99,000원"}
    fake_openai.script(completion(invented), completion(invented))
    settings = gemini_settings(
        fake_gemini, redis_url, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.url
    )
    analyze_day(db_engine, settings, DAY, VCP, top_n=1)
    with Session(db_engine) as session:
        row = session.scalars(select(AIAnalysis)).one()
    gpt = row.recommendations["gpt"]
    assert gpt["source"] == "rules" and "99,000" in gpt["note"]
    assert row.recommendations["gemini"]["source"] == "gemini"
