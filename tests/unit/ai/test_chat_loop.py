"""The chat tool loop with the real google-genai SDK against a loopback server speaking the
Gemini REST shape: a function-call round, the round cap, bad arguments, an ungrounded number,
error statuses and a refused connection — each either an accepted answer or a ``ChatRejected``
with its reason."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from helpers.fake_gemini import (
    FakeGemini,
    Scripted,
    error,
    function_calls,
    quota_exhausted,
    refused_url,
    safety_block,
    text,
)
from prometheus_client import REGISTRY
from pydantic import BaseModel, ConfigDict, Field

from krstock.ai.chat import CALLS_PER_ROUND_MAX, ChatRejected, ChatTool, converse
from krstock.ai.gemini import gemini_client
from krstock.ai.limits import Limiter
from krstock.config import Settings

MODEL = "gemini-test"
RUNS: list[str] = []


class StockArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticker: str = Field(pattern=r"^\d{6}$")


def _stock(args: StockArgs) -> dict[str, Any]:
    RUNS.append(args.ticker)
    return {"ticker": args.ticker, "name": "삼성전자", "close": 71200.0, "change_pct": 3.2145}


TOOLS = [ChatTool("stock", "one stock's last close", StockArgs, _stock)]


@pytest.fixture()
def fake() -> Iterator[FakeGemini]:
    RUNS.clear()
    with FakeGemini() as server:
        yield server


def _client(url: str, key: str = "test-gemini-key") -> genai.Client:
    """The process's client from the settings (krstock.ai.gemini), aimed at ``url``."""
    settings = Settings(
        gemini_api_key=key, gemini_base_url=url, gemini_timeout_ms=3000, gemini_retry_attempts=1
    )
    client = gemini_client(settings)
    assert client is not None
    return client


def _turn(fake: FakeGemini, message: str = "삼성전자 어때?", **kw: Any) -> Any:
    return converse(
        _client(fake.url),
        MODEL,
        system="도우미",
        history=[("user", "안녕"), ("model", "안녕하세요")],
        message=message,
        tools=TOOLS,
        **kw,
    )


def test_a_function_call_round_then_a_grounded_answer(fake: FakeGemini) -> None:
    fake.script(
        function_calls(("stock", {"ticker": "005930"})), text("삼성전자 종가 71,200원 (+3.2%)")
    )
    answer = _turn(fake)
    assert answer.text == "삼성전자 종가 71,200원 (+3.2%)" and answer.rounds == 1
    assert RUNS == ["005930"] and [c.ok for c in answer.calls] == [True]
    assert answer.usage["total_tokens"] == 300  # two answers' usageMetadata summed
    first, second = (r.body for r in fake.requests)
    assert [r.path for r in fake.requests] == [f"/v1beta/models/{MODEL}:generateContent"] * 2
    assert fake.requests[0].headers["x-goog-api-key"] == "test-gemini-key"
    assert first["systemInstruction"]["parts"][0]["text"] == "도우미"
    assert [c["role"] for c in first["contents"]] == ["user", "model", "user"]
    declared = first["tools"][0]["functionDeclarations"][0]
    assert declared["name"] == "stock" and "ticker" in str(declared)
    # Our loop, not the SDK's: the second request carries the call and our tool's result.
    assert second["contents"][-2]["parts"][0]["functionCall"]["name"] == "stock"
    response = second["contents"][-1]["parts"][0]["functionResponse"]
    assert response["name"] == "stock" and response["response"]["close"] == 71200.0


def test_the_round_cap_stops_a_model_that_keeps_calling(fake: FakeGemini) -> None:
    fake.script(*[function_calls(("stock", {"ticker": "005930"}))] * 3)
    with pytest.raises(ChatRejected) as caught:
        _turn(fake, max_rounds=2)
    assert caught.value.kind == "round_cap" and "round cap" in caught.value.reason
    assert len(fake.requests) == 3 and RUNS == ["005930", "005930"]  # no third run


def test_bad_arguments_are_refused_before_the_tool_runs(fake: FakeGemini) -> None:
    fake.script(
        function_calls(("stock", {"ticker": "Samsung"}), ("stock", {"ticker": "005930", "x": 1})),
        function_calls(("delete_everything", {})),
        text("조회할 수 없었습니다."),
    )
    answer = _turn(fake)
    assert RUNS == [] and [c.ok for c in answer.calls] == [False, False, False]
    sent = [
        p["functionResponse"]["response"] for p in fake.requests[1].body["contents"][-1]["parts"]
    ]
    assert "ticker" in sent[0]["error"] and "pattern" in sent[0]["error"]
    assert "x: Extra inputs are not permitted" in sent[1]["error"]
    unknown = fake.requests[2].body["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert unknown["error"].startswith("unknown tool 'delete_everything'")


def test_calls_beyond_the_per_round_cap_are_refused(fake: FakeGemini) -> None:
    many = [("stock", {"ticker": "005930"})] * (CALLS_PER_ROUND_MAX + 2)
    fake.script(function_calls(*many), text("끝"))
    answer = _turn(fake)
    assert len(RUNS) == CALLS_PER_ROUND_MAX and sum(not c.ok for c in answer.calls) == 2


def test_a_number_in_no_tool_result_is_sent_back_once_then_rejected(fake: FakeGemini) -> None:
    fake.script(
        function_calls(("stock", {"ticker": "005930"})),
        text("종가 71,200원, 목표가 90,000원 (+28%)"),
        text("종가 71,200원, 목표가는 90,000원입니다."),
    )
    with pytest.raises(ChatRejected) as caught:
        _turn(fake)
    assert caught.value.kind == "ungrounded"
    assert caught.value.reason == (
        "the answer states 90,000, found in no tool result (after a repair)"
    )
    repair = fake.requests[2].body["contents"]
    assert repair[-2] == {
        "role": "model",
        "parts": [{"text": "종가 71,200원, 목표가 90,000원 (+28%)"}],
    }
    assert repair[-1]["role"] == "user" and "90,000, 28%" in repair[-1]["parts"][0]["text"]
    fake.script(text("삼성전자는 71,200원입니다."))  # no tool called: nothing is grounded
    with pytest.raises(ChatRejected) as unrepaired:
        _turn(fake, repairs=0)
    assert unrepaired.value.reason == "the answer states 71,200, found in no tool result"


def test_a_repaired_answer_is_accepted(fake: FakeGemini) -> None:
    fake.script(
        text("삼성전자는 71,200원입니다."),
        function_calls(("stock", {"ticker": "005930"})),  # the repair makes it look the number up
        text("삼성전자 종가는 71,200원입니다."),
    )
    answer = _turn(fake)
    assert answer.repairs == 1 and answer.rounds == 1 and RUNS == ["005930"]


@pytest.mark.parametrize(
    ("answer", "kind", "expected"),
    [
        (error(503), "api_error", "Gemini answered 503 UNAVAILABLE"),
        (error(429), "rate_limited", "Gemini answered 429 RESOURCE_EXHAUSTED, retry in 30s"),
        (quota_exhausted("17s"), "rate_limited", "429 RESOURCE_EXHAUSTED, retry in 17s"),
    ],
)
def test_error_statuses_reject_the_turn(
    fake: FakeGemini, answer: Scripted, kind: str, expected: str
) -> None:
    fake.script(answer)
    with pytest.raises(ChatRejected) as caught:
        _turn(fake)
    assert caught.value.kind == kind and caught.value.reason.endswith(expected)


def _limiter(**limits: Any) -> Limiter:
    """The shared limits in this process (no Redis), under a project of this test's own."""
    project = f"chat-{uuid.uuid4().hex[:8]}"
    return Limiter(Settings(llm_project=project, **limits), "gemini", None)


def test_a_429_cools_every_caller_down_and_the_next_turn_makes_no_request(
    fake: FakeGemini,
) -> None:
    limiter = _limiter()
    fake.script(quota_exhausted("17s"))
    with pytest.raises(ChatRejected):
        _turn(fake, limiter=limiter)
    with pytest.raises(ChatRejected) as waiting:
        _turn(fake, limiter=limiter)
    assert waiting.value.kind == "rate_limited" and "cooldown after a 429" in waiting.value.reason
    assert len(fake.requests) == 1  # the second turn never reached Gemini


def test_the_daily_budget_and_the_cost_counter(fake: FakeGemini) -> None:
    limiter = _limiter(llm_requests_per_day=2, llm_requests_per_min=6000)
    cost = REGISTRY.get_sample_value("krstock_llm_cost_usd_total", {"provider": "gemini"}) or 0.0
    fake.script(function_calls(("stock", {"ticker": "005930"})), text("삼성전자 종가 71,200원"))
    _turn(fake, limiter=limiter)
    spent = REGISTRY.get_sample_value("krstock_llm_cost_usd_total", {"provider": "gemini"})
    # two answers of 120 prompt and 30 output tokens at $0.30 and $2.50 per million
    assert spent == pytest.approx(cost + 2 * (120 * 0.30 + 30 * 2.50) / 1e6)
    with pytest.raises(ChatRejected) as over:
        _turn(fake, limiter=limiter)
    assert over.value.kind == "over_budget" and "daily request budget" in over.value.reason
    assert len(fake.requests) == 2


def test_a_refused_connection_rejects_the_turn() -> None:
    with pytest.raises(ChatRejected) as caught:
        converse(
            _client(refused_url()), MODEL, system="", history=[], message="x",
            tools=TOOLS,
        )  # fmt: skip
    assert caught.value.kind == "unreachable"
    assert caught.value.reason == "Gemini unreachable: ConnectError"


def test_an_empty_answer_is_rejected(fake: FakeGemini) -> None:
    fake.script(safety_block())
    with pytest.raises(ChatRejected) as caught:
        _turn(fake)
    assert "no answer text" in caught.value.reason and "SAFETY" in caught.value.reason
