"""A chat turn answered by Gemini with read-only tools, under our control.

The SDK's automatic function calling is off: this loop asks the model, runs the tools it calls
(arguments validated by each tool's pydantic model first; a bad call gets an error back, not a
run), and stops after ``max_rounds`` tool rounds. The final text is accepted only when every
number and date in it is in a tool result or the user's own words (``chat_numbers``); otherwise
the turn is rejected and the caller answers by rules, saying so. No tool writes anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ValidationError

from krstock.ai import metrics
from krstock.ai.chat_numbers import Facts, unsupported
from krstock.ai.gemini import PROVIDER, retry_delay_s
from krstock.ai.limits import Limiter, OverLimit

if TYPE_CHECKING:  # google-genai is the ``ai`` extra: imported when a model is used
    from google.genai import Client, types

CALLS_PER_ROUND_MAX = 5  # a round asking for more gets the first five run, the rest refused
RESULT_MAX_BYTES = 16_000  # what one tool result may put into the prompt
CHAT_MAX_WAIT_S = 5.0  # a person is waiting: no longer than this for the shared bucket
COOLDOWN_DEFAULT_S = 30.0  # a 429 without a retryDelay
REPAIR = (
    "검증 실패: 답의 {numbers}은(는) 어떤 도구 결과에도 없습니다. 도구 결과에 있는 숫자만 "
    "그대로 쓰거나 필요한 도구를 호출한 뒤 다시 답하세요. 추정하거나 계산한 숫자는 쓰지 마세요."
)


@dataclass(frozen=True)
class ChatTool:
    """A read-only function the model may call: its arguments are ``args`` (validated)."""

    name: str
    description: str
    args: type[BaseModel]
    run: Callable[[Any], dict[str, Any]]

    def declaration(self) -> types.FunctionDeclaration:
        from google.genai import types

        return types.FunctionDeclaration(
            name=self.name,
            description=self.description,
            parameters_json_schema=self.args.model_json_schema(),
        )


@dataclass
class ToolCall:
    name: str
    args: dict[str, Any]
    ok: bool
    error: str | None = None


@dataclass
class ChatAnswer:
    text: str
    rounds: int
    calls: list[ToolCall]
    usage: dict[str, int] = field(default_factory=dict)
    latency_ms: int = 0
    repairs: int = 0  # how many times the answer was sent back for ungrounded numbers


class ChatRejected(RuntimeError):
    """The model's turn cannot be used. ``kind`` (a metric label): ungrounded, round_cap,
    no_text, api_error, unreachable, rate_limited, over_budget; ``reason`` the sentence saying
    what happened."""

    def __init__(
        self, kind: str, reason: str, calls: Sequence[ToolCall] = (), rounds: int = 0
    ) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.calls = list(calls)
        self.rounds = rounds


def _run_tool(
    tools: dict[str, ChatTool], call: types.FunctionCall
) -> tuple[dict[str, Any], ToolCall]:
    name = call.name or ""
    args = dict(call.args or {})
    tool = tools.get(name)
    if tool is None:
        error = f"unknown tool {name!r}; tools: {', '.join(sorted(tools))}"
        return {"error": error}, ToolCall(name, args, False, error)
    try:
        parsed = tool.args.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        error = f"invalid arguments for {name}: {problems}"
        return {"error": error}, ToolCall(name, args, False, error)
    result = tool.run(parsed)
    if len(orjson.dumps(result)) > RESULT_MAX_BYTES:
        result = {"error": f"{name}: the result is too large; ask for fewer items"}
        return result, ToolCall(name, args, False, result["error"])
    return result, ToolCall(name, args, True)


def _usage(response: types.GenerateContentResponse, total: dict[str, int]) -> None:
    meta = response.usage_metadata
    if meta is None:
        return
    for key, value in (
        ("prompt_tokens", meta.prompt_token_count),
        ("output_tokens", meta.candidates_token_count),
        ("thought_tokens", meta.thoughts_token_count),
        ("total_tokens", meta.total_token_count),
    ):
        total[key] = total.get(key, 0) + int(value or 0)


def _admit(
    limiter: Limiter,
    contents: Sequence[types.Content],
    system: str,
    calls: Sequence[ToolCall],
    rounds: int,
) -> None:
    """The daily budgets, then the shared bucket (waiting at most ``CHAT_MAX_WAIT_S``)."""
    problem = limiter.budget_problem()
    if problem is not None:
        raise ChatRejected("over_budget", problem, calls, rounds)
    chars = len(system) + sum(len(str(c.model_dump(exclude_none=True))) for c in contents)
    try:  # Korean is about a token per 1-2 characters, plus room for the answer
        limiter.acquire(chars // 2 + 512, time.monotonic() + CHAT_MAX_WAIT_S)
    except OverLimit as exc:
        raise ChatRejected("rate_limited", str(exc), calls, rounds) from exc


def _count(
    response: types.GenerateContentResponse, limiter: Limiter | None, latency_s: float
) -> None:
    """Tokens, cost (the configured prices) and latency of one answered request."""
    meta = response.usage_metadata
    prompt = int(meta.prompt_token_count or 0) if meta else 0
    output = (
        int((meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)) if meta else 0
    )
    metrics.DURATION.labels(PROVIDER).observe(latency_s)
    metrics.TOKENS.labels(PROVIDER, "input").inc(prompt)
    metrics.TOKENS.labels(PROVIDER, "output").inc(output)
    if limiter is not None:
        ai = limiter.settings.ai
        cost = (prompt * ai.llm_price_input_per_mtok + output * ai.llm_price_output_per_mtok) / 1e6
        metrics.COST.labels(PROVIDER).inc(cost)
        limiter.spent(1, cost)


def converse(
    client: Client,
    model: str,
    *,
    system: str,
    history: Sequence[tuple[str, str]],
    message: str,
    tools: Sequence[ChatTool],
    max_rounds: int = 4,
    repairs: int = 1,
    temperature: float = 0.2,
    grounding: Sequence[Any] = (),
    limiter: Limiter | None = None,
) -> ChatAnswer:
    """One turn: ``history`` is (role "user"|"model", text) oldest first. ``grounding`` holds
    what the answer's numbers may also come from besides tool results (the user's memory).
    An answer with ungrounded numbers is sent back ``repairs`` times naming them (the model may
    call tools again, within ``max_rounds``). Every request goes through ``limiter`` (the
    provider project's shared bucket, cooldown and daily budgets) and the LLM metrics. Raises
    ``ChatRejected`` with the reason when the turn cannot be used."""
    import httpx2
    from google.genai import errors, types

    started = time.perf_counter()
    by_name = {tool.name: tool for tool in tools}
    config = types.GenerateContentConfig(
        system_instruction=system,
        temperature=temperature,
        tools=[types.Tool(function_declarations=[t.declaration() for t in tools])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    contents: list[types.Content] = [
        types.Content(role=role, parts=[types.Part(text=text)]) for role, text in history
    ]
    contents.append(types.Content(role="user", parts=[types.Part(text=message)]))
    results: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    usage: dict[str, int] = {}
    rounds = 0  # tool rounds so far
    repairs_left = repairs
    while True:
        if limiter is not None:
            _admit(limiter, contents, system, calls, rounds)
        asked = time.perf_counter()
        try:
            response = client.models.generate_content(model=model, contents=contents, config=config)
        except errors.APIError as exc:
            metrics.DURATION.labels(PROVIDER).observe(time.perf_counter() - asked)
            status = f"Gemini answered {exc.code} {exc.status or ''}".strip()
            if exc.code == 429:
                delay = retry_delay_s(exc.details) or COOLDOWN_DEFAULT_S
                if limiter is not None:  # every caller of this project waits it out
                    limiter.cool_down(delay)
                    limiter.spent(1, 0.0)
                raise ChatRejected(
                    "rate_limited", f"{status}, retry in {delay:.0f}s", calls, rounds
                ) from exc
            raise ChatRejected("api_error", status, calls, rounds) from exc
        except (httpx2.HTTPError, OSError) as exc:
            reason = f"Gemini unreachable: {type(exc).__name__}"
            raise ChatRejected("unreachable", reason, calls, rounds) from exc
        _count(response, limiter, time.perf_counter() - asked)
        _usage(response, usage)
        wanted = response.function_calls or []
        if not wanted:
            text = (response.text or "").strip()
            if not text:
                finish = response.candidates[0].finish_reason if response.candidates else None
                reason = f"no answer text (finish reason {finish})"
                raise ChatRejected("no_text", reason, calls, rounds)
            missing = unsupported(text, Facts.of(results, message, *grounding))
            if missing and repairs_left > 0 and response.candidates:
                repairs_left -= 1
                contents.append(types.Content(role="model", parts=[types.Part(text=text)]))
                repair = REPAIR.format(numbers=", ".join(missing[:5]))
                contents.append(types.Content(role="user", parts=[types.Part(text=repair)]))
                continue
            if missing:
                after = " (after a repair)" if repairs_left < repairs else ""
                raise ChatRejected(
                    "ungrounded",
                    f"the answer states {', '.join(missing[:5])}, found in no tool result" + after,
                    calls,
                    rounds,
                )
            latency = int((time.perf_counter() - started) * 1000)
            return ChatAnswer(text, rounds, calls, usage, latency, repairs - repairs_left)
        if rounds == max_rounds:
            raise ChatRejected(
                "round_cap",
                f"round cap: still calling tools after {max_rounds} rounds",
                calls,
                rounds,
            )
        rounds += 1
        if response.candidates and response.candidates[0].content:
            contents.append(response.candidates[0].content)
        parts = []
        for index, call in enumerate(wanted):
            if index >= CALLS_PER_ROUND_MAX:
                result = {"error": f"at most {CALLS_PER_ROUND_MAX} tool calls per round"}
                record = ToolCall(call.name or "", dict(call.args or {}), False, result["error"])
            else:
                result, record = _run_tool(by_name, call)
            calls.append(record)
            if record.ok:
                results.append(result)
            parts.append(types.Part.from_function_response(name=call.name or "", response=result))
        contents.append(types.Content(role="user", parts=parts))
