"""Ask a model a question about a fact sheet, under our control, and never trust the answer.

For one (task, sheet): the cache first (same prompt version, model, ticker, date and facts → the
stored outcome, no HTTP call; ``refresh`` skips it), then the daily budgets, the shared bucket
and any 429 cooldown, then the call. The answer is parsed from ``response.text`` and checked
against the sheet; a failed check gets one repair turn naming the violations, then the answer is
rejected. A rejected, failed or skipped call never becomes a recommendation: the rule-based
analyzer answers, and the outcome says why. Every HTTP call is a row in ``llm_calls``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from krstock.ai import metrics
from krstock.ai.answers import Answer
from krstock.ai.facts import FactSheet
from krstock.ai.limits import Limiter, OverLimit
from krstock.ai.provider import LlmAnswer, LlmRequest, Provider, ProviderError, Turn
from krstock.ai.tasks import Task
from krstock.ai.validate import Rejected, check, describe
from krstock.config import Settings
from krstock.db.models import LlmCall

Status = Literal["accepted", "rejected", "failed", "over_budget", "rate_limited", "not_configured"]
RATE_LIMIT_RETRIES = 3  # 429s answered with a cooldown and another try, per question
REPAIR = (
    "검증 실패: {problems}. 사실표의 숫자·id만 그대로 쓰고 URL과 사실표에 없는 날짜는 빼서, 같은 "
    "JSON 스키마의 객체 하나로 다시 답하세요."
)


@dataclass(frozen=True)
class Outcome:
    """What answered (``source``), the answer, and what happened to the model's attempt."""

    source: Literal["gemini", "rules"] | str
    answer: Answer
    status: Status
    cached: bool = False
    reason: str | None = None
    model: str | None = None

    @property
    def grounded(self) -> bool:
        """A model answer that passed every check (rules answers are built from facts but are
        not the model's judgement)."""
        return self.status == "accepted"

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.answer.model_dump(mode="json"),
            "source": self.source,
            "status": self.status,
            "cached": self.cached,
            "grounded": self.grounded,
            "note": self.reason,
            "model": self.model,
        }


def cache_key(task: Task, model: str, sheet: FactSheet) -> str:
    parts = [task.prompt_version, model, sheet.ticker, sheet.signal_date.isoformat()]
    return hashlib.sha256("|".join([*parts, sheet.digest()]).encode()).hexdigest()


def cost_usd(settings: Settings, answer: LlmAnswer, provider: str = "gemini") -> float:
    """USD at the configured prices of ``provider`` (per million input/output tokens)."""
    ai = settings.ai
    if provider == "openai":
        prices = (ai.openai_price_input_per_mtok, ai.openai_price_output_per_mtok)
    else:
        prices = (ai.llm_price_input_per_mtok, ai.llm_price_output_per_mtok)
    return (answer.usage.prompt * prices[0] + answer.usage.output * prices[1]) / 1_000_000


def estimated_tokens(request: LlmRequest) -> int:
    """A bucket estimate before the call: Korean is about a token per 1–2 characters, plus
    room for the answer."""
    chars = len(request.system) + sum(len(t.text) for t in request.turns)
    return chars // 2 + 512


class Analyst:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        provider: Provider | None,
        limiter: Limiter | None = None,
        *,
        refresh: bool = False,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.provider = provider
        self.limiter = limiter
        self.refresh = refresh

    def _rules(self, task: Task, sheet: FactSheet, status: Status, **kw: Any) -> Outcome:
        return Outcome("rules", task.rules(sheet), status, **kw)

    def ask(self, task: Task, sheet: FactSheet) -> Outcome:
        provider = self.provider
        if provider is None:
            return self._rules(task, sheet, "not_configured", reason="no LLM key configured")
        name, model = provider.name, provider.model
        key = cache_key(task, model, sheet)
        if not self.refresh:
            hit = self._cached(key)
            if hit is not None:
                metrics.CALLS.labels(name, "cached").inc()
                if hit.outcome == "accepted" and hit.parsed is not None:
                    answer = task.answer.model_validate(hit.parsed)
                    return Outcome(name, answer, "accepted", cached=True, model=model)
                return self._rules(
                    task, sheet, "rejected", cached=True, reason=hit.reason, model=model
                )
        if self.limiter is not None:
            problem = self.limiter.budget_problem()
            if problem is not None:
                metrics.CALLS.labels(name, "over_budget").inc()
                return self._rules(task, sheet, "over_budget", reason=problem, model=model)
        request = LlmRequest(
            task.system,
            (Turn("user", task.prompt(sheet)),),
            task.answer.model_json_schema(),
            task.temperature,
        )
        for attempt in (1, 2):

            def throttled(
                exc: ProviderError, attempt: int = attempt, sent: LlmRequest = request
            ) -> None:
                # A 429 is an HTTP call too: on the audit trail, never a cache hit.
                reason = f"{exc} (retry after {exc.retry_after_s}s)"
                self._store(key, task, sheet, attempt, "rate_limited", reason, sent, None, None)

            try:
                reply = self._call(request, throttled)
            except OverLimit as exc:
                metrics.CALLS.labels(name, exc.kind).inc()
                return self._rules(task, sheet, "rate_limited", reason=str(exc), model=model)
            except ProviderError as exc:
                metrics.CALLS.labels(name, "failed").inc()
                self._store(key, task, sheet, attempt, "failed", str(exc), request, None, None)
                reason = f"{exc.kind}: {exc}"
                return self._rules(task, sheet, "failed", reason=reason, model=model)
            try:
                parsed = check(task.answer, reply.text, sheet)
            except Rejected as exc:
                problems = describe(exc.violations)
                final = attempt == 2
                outcome = "rejected" if final else "repair"
                metrics.CALLS.labels(name, outcome).inc()
                self._store(key, task, sheet, attempt, outcome, problems, request, reply, None)
                if final:
                    return self._rules(task, sheet, "rejected", reason=problems, model=model)
                request = request.with_turns(
                    Turn("model", reply.text or ""),
                    Turn("user", REPAIR.format(problems=problems)),
                )
                continue
            metrics.CALLS.labels(name, "accepted").inc()
            self._store(key, task, sheet, attempt, "accepted", None, request, reply, parsed)
            return Outcome(name, parsed, "accepted", model=model)
        raise AssertionError("unreachable: the second attempt always returns")

    def _call(
        self, request: LlmRequest, throttled: Callable[[ProviderError], None] | None = None
    ) -> LlmAnswer:
        """One answer from the provider, through the bucket; a 429 sets the shared cooldown
        from its retryDelay and the request is tried again after it."""
        provider = self.provider
        assert provider is not None
        deadline = time.monotonic() + self.settings.ai.llm_max_wait_s
        for _ in range(RATE_LIMIT_RETRIES + 1):
            estimate = estimated_tokens(request)
            if self.limiter is not None:
                self.limiter.acquire(estimate, deadline)
            try:
                answer = provider.generate(request)
            except ProviderError as exc:
                metrics.DURATION.labels(provider.name).observe(exc.latency_s)
                if exc.kind != "rate_limited":
                    raise
                metrics.CALLS.labels(provider.name, "rate_limited").inc()
                if throttled is not None:
                    throttled(exc)
                delay = exc.retry_after_s if exc.retry_after_s is not None else 30.0
                if self.limiter is not None:
                    self.limiter.cool_down(delay)
                    self.limiter.spent(1, 0.0)
                    continue  # acquire() waits out the cooldown (or gives up at the deadline)
                if time.monotonic() + delay > deadline:
                    raise OverLimit("rate_limited", f"429, retry in {delay:.1f}s") from exc
                time.sleep(delay)
                continue
            self._count(answer)
            if self.limiter is not None:
                self.limiter.settle(estimate, answer.usage.total or answer.usage.prompt)
            return answer
        raise OverLimit("rate_limited", f"still 429 after {RATE_LIMIT_RETRIES} cooldowns")

    def _count(self, answer: LlmAnswer) -> None:
        provider = self.provider
        assert provider is not None
        cost = cost_usd(self.settings, answer, provider.name)
        metrics.DURATION.labels(provider.name).observe(answer.latency_s)
        metrics.TOKENS.labels(provider.name, "input").inc(answer.usage.prompt)
        metrics.TOKENS.labels(provider.name, "output").inc(answer.usage.output)
        metrics.COST.labels(provider.name).inc(cost)
        if self.limiter is not None:
            self.limiter.spent(1, cost)

    def _cached(self, key: str) -> LlmCall | None:
        with Session(self.engine) as session:
            return session.scalars(
                select(LlmCall)
                .where(LlmCall.cache_key == key, LlmCall.outcome.in_(("accepted", "rejected")))
                .order_by(LlmCall.created_at.desc(), LlmCall.id.desc())
                .limit(1)
            ).first()

    def _store(
        self,
        key: str,
        task: Task,
        sheet: FactSheet,
        attempt: int,
        outcome: str,
        reason: str | None,
        request: LlmRequest,
        answer: LlmAnswer | None,
        parsed: Answer | None,
    ) -> None:
        provider = self.provider
        assert provider is not None
        body = {
            "system": request.system,
            "turns": [{"role": t.role, "text": t.text} for t in request.turns],
            "schema": request.schema,
            "temperature": request.temperature,
            "facts": sheet.as_dict(),
        }
        row = LlmCall(
            cache_key=key,
            purpose=task.purpose,
            prompt_version=task.prompt_version,
            provider=provider.name,
            model=provider.model,
            ticker=sheet.ticker,
            signal_date=sheet.signal_date,
            attempt=attempt,
            outcome=outcome,
            reason=reason,
            request=orjson.loads(orjson.dumps(body)),
            raw_answer=answer.text if answer else None,
            parsed=parsed.model_dump(mode="json") if parsed is not None else None,
            prompt_tokens=answer.usage.prompt if answer else 0,
            output_tokens=answer.usage.output if answer else 0,
            cost_usd=cost_usd(self.settings, answer, provider.name) if answer else 0.0,
            latency_ms=answer.latency_s * 1000 if answer else None,
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)


def signal_day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
