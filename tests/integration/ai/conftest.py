"""A fake Gemini per test (the real SDK talks to it over loopback), the settings that point at
it, and a collected synthetic market for the closing-bet tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from ai_seed import CollectedMarket
from helpers.fake_gemini import FakeGemini

from krstock.config import get_settings
from krstock.marketdata.sample import SampleMarket

SAMPLE_START, SAMPLE_END = date(2024, 6, 3), date(2025, 12, 30)  # as the synthetic app tests


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def gemini_settings(
    fake_gemini: FakeGemini, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeGemini]:
    """The process settings point at the fake Gemini (one attempt, a generous bucket) with a
    Redis prefix of this test's own; cleared again afterwards."""
    for name, value in {
        "KRSTOCK_GEMINI_API_KEY": fake_gemini.api_key,
        "KRSTOCK_GEMINI_BASE_URL": fake_gemini.url,
        "KRSTOCK_GEMINI_RETRY_ATTEMPTS": "1",
        "KRSTOCK_REDIS_URL": redis_url,
        "KRSTOCK_REDIS_PREFIX": f"krstock-test-ai-{uuid.uuid4().hex[:12]}",
        "KRSTOCK_LLM_REQUESTS_PER_MIN": "600",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        yield fake_gemini
    finally:
        get_settings.cache_clear()


@pytest.fixture
def sample_market(admin_url: str, _clone_pool: Any) -> Iterator[CollectedMarket]:
    """300 synthetic tickers collected into a fresh database (prices, flows, indices, news)."""
    from krstock.db.session import make_engine
    from krstock.ingest.collect import collect

    sample = SampleMarket(n_tickers=300, start=SAMPLE_START, end=SAMPLE_END)
    name = _clone_pool.take()
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    engine = make_engine(url, pool_size=2, max_overflow=2)
    try:
        collect(engine, sample, SAMPLE_START, SAMPLE_END)
        yield CollectedMarket(engine, url, sample)
    finally:
        engine.dispose()
        _clone_pool.release(name)
