"""A closing-bet scan on a collected synthetic market with Gemini configured (the real SDK,
the loopback fake): the model's accepted news score becomes the news component, each signal
records how its news was judged, and a re-run of the same day makes no new request."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from helpers.fake_gemini import FakeGemini, json_answer
from sqlalchemy import Engine

from krstock.app.runs import run_scan
from krstock.config import get_settings
from krstock.domain.policy import SignalPolicy
from krstock.marketdata.sample import SampleMarket

pytestmark = pytest.mark.integration
START, END = date(2024, 6, 3), date(2025, 12, 30)  # as the synthetic app tests
UNCAPPED = SignalPolicy.preset("monolith").merged({"closing_bet": {"max_positions": 20}})


@pytest.fixture
def market_engine(admin_url: str, _clone_pool: Any) -> Iterator[tuple[Engine, SampleMarket]]:
    from krstock.db.session import make_engine
    from krstock.ingest.collect import collect

    market = SampleMarket(n_tickers=300, start=START, end=END)
    name = _clone_pool.take()
    engine = make_engine(f"{admin_url.rpartition('/')[0]}/{name}", pool_size=2, max_overflow=2)
    try:
        collect(engine, market, START, END)
        yield engine, market
    finally:
        engine.dispose()
        _clone_pool.release(name)


def test_scan_uses_accepted_llm_news_scores_and_caches_them(
    market_engine: tuple[Engine, SampleMarket],
    fake_gemini: FakeGemini,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, market = market_engine
    days = sorted({r.date for r in market.planted_records if r.kind == "closing_bet"})
    assert days, "the synthetic market plants closing bets"
    day = days[-1]
    for name, value in {
        "KRSTOCK_GEMINI_API_KEY": fake_gemini.api_key,
        "KRSTOCK_GEMINI_BASE_URL": fake_gemini.url,
        "KRSTOCK_GEMINI_RETRY_ATTEMPTS": "1",
        "KRSTOCK_REDIS_URL": redis_url,
        "KRSTOCK_REDIS_PREFIX": f"krstock-test-cb-{uuid.uuid4().hex[:12]}",
        "KRSTOCK_LLM_REQUESTS_PER_MIN": "600",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
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
    finally:
        get_settings.cache_clear()
