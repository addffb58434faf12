"""The small interface every LLM provider implements, and what a call returns or raises.

A provider turns a conversation (system instruction, user/model turns, an optional JSON schema
for structured output) into one answer: its raw text, finish reason, token usage and latency.
It never interprets the text: validation is ``krstock.ai.validate``'s job, limits and the cache
are ``krstock.ai.calls``'. Failures are a ``ProviderError`` with a kind the caller can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["user", "model"]
FailureKind = Literal["rate_limited", "server", "transport", "timeout", "client", "blocked"]


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str


@dataclass(frozen=True)
class LlmRequest:
    """What we ask: ``schema`` is a JSON schema the answer must follow (structured output)."""

    system: str
    turns: tuple[Turn, ...]
    schema: dict[str, Any] | None = None
    temperature: float = 0.1

    def with_turns(self, *more: Turn) -> LlmRequest:
        return LlmRequest(self.system, self.turns + more, self.schema, self.temperature)


@dataclass(frozen=True)
class Usage:
    """Tokens as ``usageMetadata`` counts them; ``output`` includes thinking tokens (billed so)."""

    prompt: int = 0
    candidates: int = 0
    thoughts: int = 0
    cached: int = 0
    total: int = 0

    @property
    def output(self) -> int:
        return self.candidates + self.thoughts


@dataclass(frozen=True)
class LlmAnswer:
    text: str | None
    finish_reason: str | None
    usage: Usage
    model_version: str | None
    latency_s: float
    raw: dict[str, Any] = field(default_factory=dict)


class ProviderError(Exception):
    """A call that produced no usable answer. ``retry_after_s`` comes from a 429's retryDelay."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        latency_s: float = 0.0,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after_s = retry_after_s
        self.latency_s = latency_s


class Provider(Protocol):
    """An LLM behind one method. ``name`` labels metrics and stored calls; ``project`` is whose
    rate limits apply (Gemini's limits are per Google Cloud project)."""

    name: str
    model: str

    def generate(self, request: LlmRequest) -> LlmAnswer: ...
