"""A closing-bet scan on a collected synthetic market with Gemini configured (the real SDK,
the loopback fake): the model's accepted news score becomes the news component, each signal
records how its news was judged, and a re-run of the same day makes no new request."""

from __future__ import annotations

import pytest
from ai_seed import CollectedMarket
from helpers.fake_gemini import FakeGemini, json_answer

from krstock.app.runs import run_scan
from krstock.domain.policy import SignalPolicy

pytestmark = pytest.mark.integration
UNCAPPED = SignalPolicy.preset("monolith").merged({"closing_bet": {"max_positions": 20}})


def test_scan_uses_accepted_llm_news_scores_and_caches_them(
    sample_market: CollectedMarket, gemini_settings: FakeGemini
) -> None:
    engine, _, market = sample_market
    fake_gemini = gemini_settings
    days = sorted({r.date for r in market.planted_records if r.kind == "closing_bet"})
    assert days, "the synthetic market plants closing bets"
    day = days[-1]
    answer = {"score": 3, "reason": "N1 뉴스가 뚜렷한 호재", "evidence": ["N1"]}
    fake_gemini.script(*[json_answer(answer) for _ in range(60)])
    result = run_scan(engine, kind="closing-bet", day=day, policy=UNCAPPED)
    asked = len(fake_gemini.generate_requests)
    assert asked > 0
    judged = [s for s in result["signals"] if s["payload"].get("news_judgement")]
    assert judged
    for signal in judged:
        record = signal["payload"]["news_judgement"]
        assert (record["source"], record["status"], record["model_score"]) == (
            "gemini",
            "accepted",
            3,
        )
        assert signal["score_breakdown"]["news"] == 3 == record["score_used"]
        assert signal["score_breakdown"]["llm_reason"] == "N1 뉴스가 뚜렷한 호재"
    again = run_scan(engine, kind="closing-bet", day=day, policy=UNCAPPED)
    assert len(fake_gemini.generate_requests) == asked  # same facts: answered by the cache
    assert [s["score"] for s in again["signals"]] == [s["score"] for s in result["signals"]]
