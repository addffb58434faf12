"""A second provider: any server speaking OpenAI's ``/chat/completions`` (OpenAI itself, or a
local model behind an OpenAI-compatible server). Structured output through ``response_format``
(a JSON schema); the answer is checked like Gemini's. One long-lived httpx client per process
and configuration; a 429's ``Retry-After`` becomes the shared cooldown, as Gemini's retryDelay.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from krstock.ai.provider import FailureKind, LlmAnswer, LlmRequest, ProviderError, Usage
from krstock.config import Settings

PROVIDER = "openai"
_clients: dict[tuple[str, str, int], httpx.Client] = {}
_lock = threading.Lock()


def openai_key(settings: Settings) -> str | None:
    key = settings.ai.openai_api_key
    value = key.get_secret_value().strip() if key is not None else ""
    return value or None


def _client(settings: Settings, key: str) -> httpx.Client:
    ai = settings.ai
    ident = (key, ai.openai_base_url, ai.gemini_timeout_ms)
    with _lock:
        client = _clients.get(ident)
        if client is None:
            client = _clients[ident] = httpx.Client(
                base_url=ai.openai_base_url.rstrip("/") + "/",
                headers={"Authorization": f"Bearer {key}"},
                timeout=ai.gemini_timeout_ms / 1000,
            )
    return client


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


class OpenAICompatProvider:
    name = PROVIDER

    def __init__(self, client: httpx.Client, model: str) -> None:
        self.client = client
        self.model = model

    def generate(self, request: LlmRequest) -> LlmAnswer:
        messages = [{"role": "system", "content": request.system}] + [
            {"role": "assistant" if t.role == "model" else "user", "content": t.text}
            for t in request.turns
        ]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": request.temperature,
        }
        if request.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.schema},
            }
        started = time.perf_counter()
        try:
            response = self.client.post("chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise ProviderError("timeout", f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise ProviderError("transport", f"{type(exc).__name__}: {exc}") from exc
        latency = time.perf_counter() - started
        if response.status_code >= 400:
            code = response.status_code
            kind: FailureKind = (
                "rate_limited" if code == 429 else "server" if code >= 500 else "client"
            )
            raise ProviderError(
                kind,
                f"{code}: {response.text[:200]}",
                status=code,
                retry_after_s=_retry_after(response) if code == 429 else None,
                latency_s=latency,
            )
        data = response.json()
        choice = (data.get("choices") or [{}])[0]
        usage = data.get("usage") or {}
        return LlmAnswer(
            text=(choice.get("message") or {}).get("content"),
            finish_reason=choice.get("finish_reason"),
            usage=Usage(
                prompt=int(usage.get("prompt_tokens") or 0),
                candidates=int(usage.get("completion_tokens") or 0),
                total=int(usage.get("total_tokens") or 0),
            ),
            model_version=data.get("model"),
            latency_s=latency,
            raw=data,
        )


def openai_provider(settings: Settings) -> OpenAICompatProvider | None:
    key = openai_key(settings)
    if key is None:
        return None
    return OpenAICompatProvider(_client(settings, key), settings.ai.openai_model)
