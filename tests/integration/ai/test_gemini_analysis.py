"""The analysis path end to end with the real google-genai SDK against a loopback Gemini:
request shape, validation and repair, rejection, cache, 429 cooldown, failures → rules,
token and cost counters, no key → rules."""

from __future__ import annotations

import time

import pytest
from ai_seed import DAY, gemini_settings, seed_day
from helpers.fake_gemini import (
    FakeGemini,
    error,
    json_answer,
    quota_exhausted,
    refused_url,
    safety_block,
    slow,
    text,
)
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from krstock.ai.daily import analyze_day, make_analyst
from krstock.config import Settings
from krstock.db.models import AIAnalysis, LlmCall

pytestmark = pytest.mark.integration
VCP = {"vcp": ("vcp-legacy",)}


def good(action: str = "HOLD", evidence: str = "F4") -> dict:
    return {
        "action": action,
        "confidence": 55,
        "reason": "전략 점수 82.5점, 외국인 5일 순매수 12만주",
        "claims": [{"text": "점수 82.5", "evidence": [evidence]}],
    }


def calls(engine: Engine) -> list[LlmCall]:
    with Session(engine) as session:
        return list(session.scalars(select(LlmCall).order_by(LlmCall.id)))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def tokens(direction: str) -> float:
    return sample("krstock_llm_tokens_total", provider="gemini", direction=direction)


def spent() -> float:
    return sample("krstock_llm_cost_usd_total", provider="gemini")


def outcomes(outcome: str) -> float:
    return sample("krstock_llm_calls_total", provider="gemini", outcome=outcome)


def one_signal(engine: Engine, settings: Settings, **kw: object) -> dict:
    report = analyze_day(engine, settings, DAY, VCP, top_n=1, **kw)  # type: ignore[arg-type]
    return report.as_dict()


def test_request_shape_and_accepted_answer(
    db_engine: Engine, fake_gemini: FakeGemini, redis_url: str
) -> None:
    seed_day(db_engine)
    fake_gemini.script(json_answer(good("BUY"), prompt=1000, output=200, thoughts=50))
    settings = gemini_settings(fake_gemini, redis_url)
    before_in, before_out, before_cost = tokens("input"), tokens("output"), spent()
    report = one_signal(db_engine, settings)

    assert report["items"][0] | {"reason": ""} == {
        "ticker": "005930",
        "strategy": "vcp",
        "action": "BUY",
        "source": "gemini",
        "grounded": True,
        "reason": "",
        "status": "accepted",
        "cached": False,
    }
    (request,) = fake_gemini.requests
    assert request.path == f"/v1beta/models/{settings.ai.gemini_model}:generateContent"
    body = request.body
    assert "애널리스트" in body["systemInstruction"]["parts"][0]["text"]
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    schema = body["generationConfig"]["responseJsonSchema"]
    assert set(schema["required"]) >= {"action", "confidence", "reason", "claims"}
    prompt = body["contents"][0]["parts"][0]["text"]
    assert "[F1] 종가: 50,000원" in prompt and "[N1]" in prompt
    assert "미래 기사" not in prompt  # news after the signal date never reaches the model
    assert "없음 (데이터 없음" in prompt  # missing values are stated as missing
    # Tokens and cost follow usageMetadata (output includes thinking tokens).
    assert (tokens("input") - before_in, tokens("output") - before_out) == (1000, 250)
    cost = (1000 * 0.30 + 250 * 2.50) / 1e6
    assert spent() - before_cost == pytest.approx(cost)
    (row,) = calls(db_engine)
    assert (row.outcome, row.prompt_tokens, row.output_tokens) == ("accepted", 1000, 250)
    assert row.cost_usd == pytest.approx(cost)
    with Session(db_engine) as session:
        stored = session.scalars(select(AIAnalysis)).one()
    assert stored.analysis_source == "gemini" and stored.action == "BUY"
    assert stored.recommendations["gpt"]["source"] == "not-configured"


def test_cache_hit_makes_no_request_and_refresh_forces_one(
    db_engine: Engine, fake_gemini: FakeGemini, redis_url: str
) -> None:
    seed_day(db_engine)
    settings = gemini_settings(fake_gemini, redis_url)
    fake_gemini.script(json_answer(good()))
    one_signal(db_engine, settings)
    assert len(fake_gemini.requests) == 1
    again = one_signal(db_engine, settings)
    assert len(fake_gemini.requests) == 1  # same facts: no HTTP call
    assert again["cached"] == 1 and again["items"][0]["source"] == "gemini"
    fake_gemini.script(json_answer(good("SELL")))
    analyst = make_analyst(db_engine, settings, refresh=True)
    refreshed = one_signal(db_engine, settings, analyst=analyst)
    assert len(fake_gemini.requests) == 2
    assert refreshed["items"][0]["action"] == "SELL" and refreshed["cached"] == 0


@pytest.mark.parametrize(
    ("first", "problem"),
    [
        (text("not json at all"), "스키마"),
        (json_answer({**good(), "confidence": 140}), "confidence"),
        (json_answer({**good(), "reason": "목표가 91,000원 돌파 기대"}), "91,000"),
        (json_answer({**good(), "reason": "자세히 https://example.com/fake 참고"}), "URL"),
        (json_answer({**good(), "claims": [{"text": "x", "evidence": ["N9"]}]}), "N9"),
        (json_answer({**good(), "reason": "2025-11-04 기사에 따르면"}), "날짜"),
        (safety_block(), "비어"),
    ],
    ids=["bad-json", "out-of-range", "number-not-in-facts", "url", "unknown-id", "date", "safety"],
)
def test_bad_answer_is_repaired_once_then_rejected(
    db_engine: Engine, fake_gemini: FakeGemini, redis_url: str, first, problem: str
) -> None:
    seed_day(db_engine)
    settings = gemini_settings(fake_gemini, redis_url)
    fake_gemini.script(first, first)
    report = one_signal(db_engine, settings)
    item = report["items"][0]
    assert (item["source"], item["grounded"], item["status"]) == ("rules", False, "rejected")
    assert report["rejected"] == 1
    assert len(fake_gemini.requests) == 2
    repair = fake_gemini.requests[1].body["contents"]
    assert [c["role"] for c in repair] == ["user", "model", "user"]
    assert "검증 실패" in repair[2]["parts"][0]["text"] and problem in repair[2]["parts"][0]["text"]
    rows = calls(db_engine)
    assert [r.outcome for r in rows] == ["repair", "rejected"]
    assert problem in (rows[1].reason or "")
    with Session(db_engine) as session:
        stored = session.scalars(select(AIAnalysis)).one()
    # A rejected call never becomes a recommendation: the rules answer is stored, said so.
    assert stored.analysis_source == "rules"
    assert stored.payload["status"] == "rejected" and problem in stored.payload["note"]
    # The rejection is cached too: the same facts make no new call.
    one_signal(db_engine, settings)
    assert len(fake_gemini.requests) == 2


def test_repair_that_fixes_the_answer_is_accepted(
    db_engine: Engine, fake_gemini: FakeGemini, redis_url: str
) -> None:
    seed_day(db_engine)
    fake_gemini.script(json_answer({**good(), "reason": "+28% 상승 여력"}), json_answer(good()))
    report = one_signal(db_engine, gemini_settings(fake_gemini, redis_url))
    assert report["items"][0]["source"] == "gemini" and report["items"][0]["grounded"]
    assert [r.outcome for r in calls(db_engine)] == ["repair", "accepted"]


def test_429_sets_a_cooldown_from_retry_delay_then_retries(
    db_engine: Engine, fake_gemini: FakeGemini, redis_url: str
) -> None:
    seed_day(db_engine)
    fake_gemini.script(quota_exhausted("1s"), json_answer(good()))
    settings = gemini_settings(fake_gemini, redis_url)
    before = outcomes("rate_limited")
    started = time.monotonic()
    report = one_signal(db_engine, settings)
    waited = time.monotonic() - started
    assert report["items"][0]["source"] == "gemini"
    assert len(fake_gemini.requests) == 2
    assert waited >= 0.9  # the retryDelay was honoured (the SDK itself ignores it)
    assert [(r.outcome, r.reason is not None) for r in calls(db_engine)] == [
        ("rate_limited", True),  # the 429 is on the audit trail
        ("accepted", False),
    ]
    assert outcomes("rate_limited") == before + 1


def test_429_with_a_cooldown_longer_than_allowed_answers_by_rules(
    db_engine: Engine, fake_gemini: FakeGemini, redis_url: str
) -> None:
    seed_day(db_engine)
    fake_gemini.script(quota_exhausted("120s"))
    report = one_signal(db_engine, gemini_settings(fake_gemini, redis_url, llm_max_wait_s=2))
    item = report["items"][0]
    assert (item["source"], item["status"]) == ("rules", "rate_limited")
    assert len(fake_gemini.requests) == 1


@pytest.mark.parametrize("failure", ["503", "refused", "timeout"])
def test_server_error_refused_and_timeout_answer_by_rules_and_are_recorded(
    db_engine: Engine, fake_gemini: FakeGemini, redis_url: str, failure: str
) -> None:
    seed_day(db_engine)
    settings = gemini_settings(fake_gemini, redis_url, gemini_timeout_ms=500)
    if failure == "503":
        fake_gemini.script(error(503), error(503))
        settings = gemini_settings(fake_gemini, redis_url, gemini_retry_attempts=2)
    elif failure == "refused":
        settings = gemini_settings(fake_gemini, redis_url, gemini_base_url=refused_url())
    else:
        fake_gemini.script(slow(json_answer(good()), 2.0))
    before = outcomes("failed")
    report = one_signal(db_engine, settings)
    item = report["items"][0]
    assert (item["source"], item["status"], item["grounded"]) == ("rules", "failed", False)
    assert item["action"] in ("BUY", "HOLD", "SELL")
    (row,) = calls(db_engine)
    assert row.outcome == "failed" and row.reason
    assert outcomes("failed") == before + 1
    if failure == "503":
        assert len(fake_gemini.requests) == 2  # the SDK retried the 5xx once, as configured


def test_no_key_answers_by_rules_without_any_request(
    db_engine: Engine, fake_gemini: FakeGemini
) -> None:
    seed_day(db_engine)
    settings = Settings(gemini_api_key=None, gemini_base_url=fake_gemini.url)
    report = analyze_day(db_engine, settings, DAY, VCP).as_dict()
    assert report["source"] == "rules" and report["analyzed"] == 3
    assert {i["source"] for i in report["items"]} == {"rules"}
    by_ticker = {i["ticker"]: i for i in report["items"]}
    assert by_ticker["005930"]["action"] == "BUY"  # score 82.5 >= 70 and foreign buying
    assert by_ticker["000660"]["action"] == "SELL"  # foreign and institutions both selling
    assert "전환사채" in by_ticker["000660"]["reason"]  # a dilutive filing read as negative
    assert fake_gemini.requests == []


def test_daily_request_budget_answers_by_rules_and_says_so(
    db_engine: Engine, fake_gemini: FakeGemini, redis_url: str
) -> None:
    seed_day(db_engine)
    fake_gemini.script(json_answer(good()))
    settings = gemini_settings(fake_gemini, redis_url, llm_requests_per_day=1)
    report = analyze_day(db_engine, settings, DAY, VCP, top_n=2).as_dict()
    statuses = [i["status"] for i in report["items"]]
    assert statuses == ["accepted", "over_budget"]
    assert len(fake_gemini.requests) == 1
    with Session(db_engine) as session:
        rows = session.scalars(select(AIAnalysis).order_by(AIAnalysis.ticker)).all()
    over = next(r for r in rows if r.payload["status"] == "over_budget")
    assert over.analysis_source == "rules" and "budget" in over.payload["note"]
