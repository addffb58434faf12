"""Gemini through the google-genai SDK: one long-lived client per process, and the provider.

The client pins ``api_version="v1beta"`` (system instructions and tools need it), takes its
timeout in milliseconds and lets the SDK retry only 408/5xx and transport failures: a 429 is
ours to handle, because the SDK ignores its ``RetryInfo.retryDelay`` (``krstock.ai.calls`` sets
a shared cooldown from it). A garbage-collected ``Client`` closes its HTTP client, so clients are
cached here for the life of the process, keyed by everything that configures them.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Any

from krstock.ai.provider import FailureKind, LlmAnswer, LlmRequest, ProviderError, Usage
from krstock.config import Settings

if TYPE_CHECKING:  # google-genai is the ``ai`` extra: imported only when a key is configured
    from google.genai import Client

PROVIDER = "gemini"
API_VERSION = "v1beta"
# The SDK's own retries: request timeout and server errors only (429 has its cooldown).
SDK_RETRY_STATUSES = (408, 500, 502, 503, 504)

_clients: dict[tuple[str, str | None, int, int], Client] = {}
_lock = threading.Lock()


def gemini_key(settings: Settings) -> str | None:
    key = settings.ai.gemini_api_key
    value = key.get_secret_value().strip() if key is not None else ""
    return value or None


def gemini_client(settings: Settings) -> Client | None:
    """The process's client for these settings, or None when no key is configured (rules)."""
    key = gemini_key(settings)
    if key is None:
        return None
    ai = settings.ai
    ident = (key, ai.gemini_base_url, ai.gemini_timeout_ms, ai.gemini_retry_attempts)
    with _lock:
        client = _clients.get(ident)
        if client is None:
            from google import genai
            from google.genai import types

            client = genai.Client(
                api_key=key,
                http_options=types.HttpOptions(
                    base_url=ai.gemini_base_url,
                    api_version=API_VERSION,
                    timeout=ai.gemini_timeout_ms,
                    retry_options=types.HttpRetryOptions(
                        attempts=ai.gemini_retry_attempts,
                        initial_delay=0.5,
                        max_delay=4.0,
                        http_status_codes=list(SDK_RETRY_STATUSES),
                    ),
                ),
            )
            _clients[ident] = client
    return client


_DURATION = re.compile(r"^\s*(?P<seconds>\d+(?:\.\d+)?)s\s*$")


def retry_delay_s(details: Any) -> float | None:
    """The ``RetryInfo.retryDelay`` of a Google error body (``"17s"`` → 17.0), if any."""
    error = details.get("error") if isinstance(details, dict) else None
    for item in (error or {}).get("details") or []:
        if isinstance(item, dict) and "retryDelay" in item:
            match = _DURATION.match(str(item["retryDelay"]))
            if match:
                return float(match["seconds"])
    return None


def _usage(meta: Any) -> Usage:
    if meta is None:
        return Usage()
    return Usage(
        prompt=meta.prompt_token_count or 0,
        candidates=meta.candidates_token_count or 0,
        thoughts=meta.thoughts_token_count or 0,
        cached=meta.cached_content_token_count or 0,
        total=meta.total_token_count or 0,
    )


def _classify(exc: Exception, latency_s: float) -> ProviderError:
    """An SDK or transport exception as a ``ProviderError`` the caller can act on."""
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        code = int(exc.code or 0)
        message = f"{code} {exc.status or ''}: {exc.message or ''}".strip()
        if code == 429:
            return ProviderError(
                "rate_limited",
                message,
                status=code,
                retry_after_s=retry_delay_s(exc.details),
                latency_s=latency_s,
            )
        kind: FailureKind = "server" if code >= 500 or code == 408 else "client"
        return ProviderError(kind, message, status=code, latency_s=latency_s)
    # Transport failures are not APIError: they come from httpx/httpx2 (timeouts, refused).
    name = type(exc).__name__
    failure: FailureKind = "timeout" if "Timeout" in name else "transport"
    return ProviderError(failure, f"{name}: {exc}", latency_s=latency_s)


class GeminiProvider:
    """``Provider`` for Gemini's generateContent, structured output via ``responseJsonSchema``."""

    name = PROVIDER

    def __init__(self, client: Client, model: str) -> None:
        self.client = client
        self.model = model

    def generate(self, request: LlmRequest) -> LlmAnswer:
        from google.genai import types

        config = types.GenerateContentConfig(
            system_instruction=request.system,
            temperature=request.temperature,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        if request.schema is not None:
            config.response_mime_type = "application/json"
            config.response_json_schema = request.schema
        contents = [
            types.Content(role=turn.role, parts=[types.Part(text=turn.text)])
            for turn in request.turns
        ]
        started = time.perf_counter()
        try:
            response = self.client.models.generate_content(
                model=self.model, contents=contents, config=config
            )
        except Exception as exc:  # every failure is classified, none escapes raw
            raise _classify(exc, time.perf_counter() - started) from exc
        latency = time.perf_counter() - started
        candidate = response.candidates[0] if response.candidates else None
        finish = None
        if candidate is not None and candidate.finish_reason is not None:
            finish = str(getattr(candidate.finish_reason, "value", candidate.finish_reason))
        parts = (candidate.content.parts or []) if candidate and candidate.content else []
        text = "".join(p.text for p in parts if p.text and not p.thought) or None
        return LlmAnswer(
            text=text,
            finish_reason=finish,
            usage=_usage(response.usage_metadata),
            model_version=response.model_version,
            latency_s=latency,
            raw=response.model_dump(mode="json", exclude_none=True),
        )


def gemini_provider(settings: Settings) -> GeminiProvider | None:
    client = gemini_client(settings)
    return GeminiProvider(client, settings.ai.gemini_model) if client is not None else None
