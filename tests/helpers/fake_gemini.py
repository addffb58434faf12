"""A loopback server speaking the Gemini REST shape the real google-genai SDK uses.

``POST /v1beta/models/{model}:generateContent`` is answered from a scripted queue: any JSON body
(text parts, ``functionCall`` parts, a ``SAFETY`` finish) with any HTTP status (429 with a
``RetryInfo.retryDelay``, 503, ...), or a scripted *delay* to provoke the client's timeout. Every
request is recorded (path, model, headers, JSON body). An empty queue answers 500 saying so, so a
test that under-scripts fails loudly instead of getting a made-up answer. One server per test, on
a free port of 127.0.0.1:

    with FakeGemini() as fake:
        fake.script(json_answer({"score": 2, "reason": "..."}))
        settings = Settings(gemini_api_key=fake.api_key, gemini_base_url=fake.url)
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from helpers.loopback import LoopbackServer, send_json

_PATH = re.compile(r"^/(?P<version>v1beta|v1)/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass(frozen=True)
class Scripted:
    """One scripted answer: HTTP status, JSON body, and seconds to wait before answering."""

    status: int
    body: dict[str, Any]
    delay_s: float = 0.0


@dataclass
class Recorded:
    path: str
    model: str
    method: str
    headers: dict[str, str]
    body: dict[str, Any]


def usage(prompt: int = 120, output: int = 30, thoughts: int = 0) -> dict[str, int]:
    meta = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output + thoughts,
    }
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    return meta


def text(
    answer: str, *, prompt: int = 120, output: int = 30, thoughts: int = 0, finish: str = "STOP"
) -> Scripted:
    """A final answer with one text part."""
    return Scripted(
        200,
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": answer}]},
                    "finishReason": finish,
                    "index": 0,
                }
            ],
            "usageMetadata": usage(prompt, output, thoughts),
            "modelVersion": "fake-gemini-001",
        },
    )


def json_answer(payload: Any, **kwargs: Any) -> Scripted:
    """A structured-output answer: the JSON text of ``payload`` as the one text part."""
    return text(json.dumps(payload, ensure_ascii=False), **kwargs)


def function_calls(*wanted: tuple[str, dict[str, Any]]) -> Scripted:
    """A round of function calls: one ``functionCall`` part per (name, args)."""
    parts = [{"functionCall": {"name": name, "args": args}} for name, args in wanted]
    return Scripted(
        200,
        {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": usage(),
            "modelVersion": "fake-gemini-001",
        },
    )


def safety_block() -> Scripted:
    """A candidate stopped for safety: no text at all."""
    return Scripted(
        200,
        {
            "candidates": [{"finishReason": "SAFETY", "index": 0}],
            "usageMetadata": usage(output=0),
            "modelVersion": "fake-gemini-001",
        },
    )


def error(status: int, message: str = "scripted error", **extra: Any) -> Scripted:
    """Google's error body ``{"error": {code, message, status, details?}}``."""
    body: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    body.update(extra)
    return Scripted(status, {"error": body})


def quota_exhausted(retry_delay: str = "1s") -> Scripted:
    """A 429 as Gemini sends it, with ``RetryInfo.retryDelay`` (e.g. ``"17s"``)."""
    return error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
    )


def slow(answer: Scripted, delay_s: float) -> Scripted:
    """``answer`` sent after ``delay_s`` seconds (longer than the client's timeout: a timeout)."""
    return Scripted(answer.status, answer.body, delay_s)


@dataclass
class FakeGemini(LoopbackServer):
    api_key: str = "test-gemini-key"
    queue: deque[Scripted] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, *answers: Scripted) -> FakeGemini:
        with self._lock:
            self.queue.extend(answers)
        return self

    @property
    def generate_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "generateContent"]

    def _next(self) -> Scripted:
        with self._lock:
            if not self.queue:
                return error(500, "fake Gemini: no scripted answer left")
            return self.queue.popleft()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                body = json.loads(raw or b"{}")
                path = self.path.split("?", 1)[0]
                match = _PATH.match(path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.requests.append(
                        Recorded(
                            path,
                            match["model"] if match else "",
                            match["method"] if match else "",
                            headers,
                            body,
                        )
                    )
                if match is None or match["method"] != "generateContent":
                    answer = error(404, f"fake Gemini: no such method {path}")
                elif headers.get("x-goog-api-key") != fake.api_key:
                    answer = error(400, "API key not valid. Please pass a valid API key.")
                else:
                    answer = fake._next()
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                send_json(self, answer.status, answer.body, "application/json; charset=UTF-8")

        return Handler


def refused_url() -> str:
    """A loopback URL nobody listens on (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
