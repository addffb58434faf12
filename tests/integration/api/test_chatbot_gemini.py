"""The chatbot routes on the real gateway (PostgreSQL, Redis) with Gemini reached through the
real google-genai SDK at a loopback server: tools read our database, an answer whose numbers
are in the tool results is Gemini's, anything else is the rules' with a note, every reply says
its source, and memory and history stay per user."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers.api_apps import Built, build_app
from helpers.api_seed import seed
from helpers.fake_gemini import FakeGemini, error, function_calls, text
from prometheus_client import REGISTRY
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from krstock.db.models import DailyPrice, NewsItem
from krstock.db.session import make_engine
from krstock.domain.calendar import KST

pytestmark = pytest.mark.integration

CHAT = "/api/kr/chatbot"
COUNTER = "krstock_chat_answers_total"
RUN = uuid.uuid4().hex[:8]  # users of this run only: Redis outlives a run


@pytest.fixture(scope="module")
def database(fresh_database: Callable[[], AbstractContextManager[str]]) -> Iterator[str]:
    with fresh_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=1)
        seed(engine, tickers=20, days=80)
        engine.dispose()
        yield url


@pytest.fixture()
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


@pytest.fixture()
def gateway(database: str, redis_url: str, fake: FakeGemini) -> Iterator[tuple[TestClient, Built]]:
    gemini = {
        "gemini_api_key": fake.api_key,
        "gemini_base_url": fake.url,
        "gemini_model": "gemini-test",
        "gemini_timeout_ms": 3000,
        "gemini_retry_attempts": 1,
        # The shared LLM limits, under a project of this run's own (Redis outlives a run).
        "llm_project": f"chat-test-{RUN}-{uuid.uuid4().hex[:6]}",
        "llm_requests_per_min": 6000,
    }
    built = build_app("gateway", database, redis_url, settings=gemini, api={"chat_max_rounds": 3})
    try:
        with TestClient(built.app) as http:
            yield http, built
    finally:
        built.state.close()


def _close(database: str) -> tuple[float, str]:
    engine = make_engine(database, pool_size=1, max_overflow=0)
    with Session(engine) as session:
        row = (
            session.query(DailyPrice.close, DailyPrice.date)
            .filter(DailyPrice.ticker == "005930")
            .order_by(DailyPrice.date.desc())
            .first()
        )
    engine.dispose()
    assert row is not None
    return float(row[0]), row[1].isoformat()


def _user(name: str) -> dict[str, str]:
    return {"X-User-Id": f"{name}-{RUN}"}


def test_a_grounded_answer_is_geminis_from_our_tools(
    gateway: tuple[TestClient, Built], fake: FakeGemini, database: str
) -> None:
    http, _ = gateway
    close, day = _close(database)
    fake.script(
        function_calls(("find_stock", {"name": "삼성"})),
        function_calls(("stock", {"ticker": "005930", "days": 1})),
        text(f"삼성전자(005930)의 {day} 종가는 {close:,.0f}원입니다."),
    )
    body = http.post(CHAT, json={"message": "삼성전자 얼마야?"}, headers=_user("g1")).json()
    assert body["source"] == "gemini" and f"{close:,.0f}원" in body["response"]
    assert [c["name"] for c in body["tool_calls"]] == ["find_stock", "stock"]
    found = fake.requests[1].body["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert {"ticker": "005930", "name": "삼성전자", "market": "KOSPI"} in found["matches"]
    prices = fake.requests[2].body["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert prices["prices"] == [
        {"date": day, "close": close, "volume": prices["prices"][0]["volume"]}
    ]
    history = http.get(f"{CHAT}/history", headers=_user("g1")).json()["history"]
    assert [(h["role"], h.get("source")) for h in history] == [("user", None), ("model", "gemini")]


def test_an_invented_number_falls_back_to_rules_and_says_why(
    gateway: tuple[TestClient, Built], fake: FakeGemini
) -> None:
    http, _ = gateway
    counted = REGISTRY.get_sample_value(COUNTER, {"source": "rules", "reason": "ungrounded"})
    fake.script(
        function_calls(("market_gate", {})),
        text("시장은 좋습니다. 코스피는 다음 주 +12% 오를 것입니다."),
        text("다시 말해 +12% 상승이 예상됩니다."),  # the repair did not help
    )
    body = http.post(CHAT, json={"message": "시장 상태 알려줘"}, headers=_user("g2")).json()
    assert body["source"] == "rules" and "GREEN" in body["response"]  # the rules' gate text
    assert "12%" in body["note"] and "found in no tool result" in body["note"]
    assert "+12%" not in body["response"] and len(fake.requests) == 3
    after = REGISTRY.get_sample_value(COUNTER, {"source": "rules", "reason": "ungrounded"})
    assert after == (counted or 0) + 1


NEWS_URL = "https://www.yna.co.kr/view/AKR20261204000100003"


def _one_news_item(database: str) -> None:
    engine = make_engine(database, pool_size=1, max_overflow=0)
    with engine.begin() as conn:
        conn.execute(
            insert(NewsItem)
            .values(
                ticker="005930",
                title="삼성전자 HBM 대형 수주",
                url=NEWS_URL,
                source="연합뉴스",
                published_at=datetime(2026, 12, 4, 10, 0, tzinfo=KST),
                credibility=0.95,
                origin="naver",
            )
            .on_conflict_do_nothing()
        )
    engine.dispose()


def test_news_links_come_from_our_collector_only(
    gateway: tuple[TestClient, Built], fake: FakeGemini, database: str
) -> None:
    http, _ = gateway
    _one_news_item(database)
    fake.script(
        function_calls(("news", {"ticker": "005930", "limit": 3})),
        text(f"최근 뉴스: 삼성전자 HBM 대형 수주 (연합뉴스, 12월 4일) {NEWS_URL}"),
    )
    body = http.post(CHAT, json={"message": "삼성전자 뉴스"}, headers=_user("n1")).json()
    assert body["source"] == "gemini" and NEWS_URL in body["response"]
    sent = fake.requests[1].body["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert sent["items"][0]["url"] == NEWS_URL and sent["items"][0]["provider"] == "naver"
    made_up = "https://news.example.com/article/2025110408151234567"
    fake.script(
        function_calls(("news", {"ticker": "005930"})),
        text(f"관련 기사: {made_up}"),
        text(f"관련 기사: {made_up}"),
    )
    body = http.post(CHAT, json={"message": "005930 뉴스"}, headers=_user("n2")).json()
    assert body["source"] == "rules" and made_up in body["note"]
    assert body["response"].startswith("005930 최근 뉴스:") and NEWS_URL in body["response"]


def test_the_round_cap_and_bad_arguments(
    gateway: tuple[TestClient, Built], fake: FakeGemini
) -> None:
    http, _ = gateway
    fake.script(
        function_calls(("signals", {"strategy": "everything", "limit": 500})),
        *[function_calls(("signals", {"strategy": "vcp"}))] * 3,
    )
    body = http.post(CHAT, json={"message": "추천 종목"}, headers=_user("g3")).json()
    assert body["source"] == "rules" and "round cap" in body["note"]
    assert body["response"].startswith("열린 VCP 시그널 상위")
    bad = body["tool_calls"][0]
    assert not bad["ok"] and "strategy" in bad["error"] and "limit" in bad["error"]
    assert len(fake.requests) == 4  # 1 + max_rounds (3), then our loop stopped


def test_gemini_down_is_rules_with_a_note(
    gateway: tuple[TestClient, Built], fake: FakeGemini
) -> None:
    http, _ = gateway
    fake.script(error(503, "overloaded"))
    body = http.post(CHAT, json={"message": "005930"}, headers=_user("g4")).json()
    assert body["source"] == "rules" and "삼성전자" in body["response"]
    assert "503" in body["note"]


def test_memory_is_per_user_and_reaches_only_that_users_model_turn(
    gateway: tuple[TestClient, Built], fake: FakeGemini
) -> None:
    http, _ = gateway
    assert http.post(
        f"{CHAT}/memory", json={"budget": "예산 500만원"}, headers=_user("m1")
    ).json() == {"status": "ok"}
    fake.script(text("예산 500만원에 맞춰 보겠습니다."), text("무엇을 도와드릴까요?"))
    mine = http.post(CHAT, json={"message": "내 예산 기억해?"}, headers=_user("m1")).json()
    other = http.post(CHAT, json={"message": "내 예산 기억해?"}, headers=_user("m2")).json()
    assert mine["source"] == "gemini" and "500만원" in mine["response"]  # grounded in memory
    assert other["source"] == "gemini"
    first, second = (r.body["systemInstruction"]["parts"][0]["text"] for r in fake.requests)
    assert "예산 500만원" in first and "예산 500만원" not in second
    assert http.get(f"{CHAT}/memory", headers=_user("m2")).json() == {"memory": {}}
    # The next turn of m1 sends its history (last 10 messages) as contents.
    fake.script(text("네."))
    http.post(CHAT, json={"message": "고마워"}, headers=_user("m1"))
    roles = [c["role"] for c in fake.requests[-1].body["contents"]]
    assert roles == ["user", "model", "user"]


def test_status_and_welcome_say_gemini(gateway: tuple[TestClient, Built]) -> None:
    http, _ = gateway
    status = http.get(f"{CHAT}/status", headers=_user("s1")).json()
    assert status["source"] == "gemini" and status["llm"] is True
    assert status["model"] == "gemini-test" and status["max_rounds"] == 3
    assert status["tools"] == [
        "market_gate", "signals", "stock", "performance", "find_stock", "news",
    ]  # fmt: skip
    assert http.get(f"{CHAT}/welcome").json()["source"] == "gemini"
    commands = http.post(CHAT, json={"message": "/status"}, headers=_user("s1")).json()
    assert commands["source"] == "rules" and "gemini (gemini-test)" in commands["response"]


def test_without_a_key_every_answer_is_rules(database: str, redis_url: str) -> None:
    built = build_app("gateway", database, redis_url)
    try:
        with TestClient(built.app) as http:
            body: dict[str, Any] = http.post(CHAT, json={"message": "성과"}).json()
            assert body["source"] == "rules" and "note" not in body
            assert body["response"].startswith("전략 성과")
            assert http.get(f"{CHAT}/status").json()["llm"] is False
    finally:
        built.state.close()
