"""A loopback server speaking OpenAI's ``POST /v1/chat/completions`` from a scripted queue
(status, JSON body, headers), recording every request; an empty queue is a 500 saying so."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from helpers.loopback import LoopbackServer, send_json


def _text(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


def completion(payload: Any, prompt: int = 100, output: int = 20) -> tuple[int, dict, dict]:
    return (
        200,
        {
            "id": "chatcmpl-fake",
            "model": "fake-gpt",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": json.dumps(payload, ensure_ascii=False),
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": output,
                "total_tokens": prompt + output,
            },
        },
        {},
    )


def too_many(retry_after_s: int) -> tuple[int, dict, dict]:
    body = {"error": {"message": "Rate limit reached", "type": "requests"}}
    return 429, body, {"Retry-After": str(retry_after_s)}


@dataclass
class FakeOpenAI(LoopbackServer):
    api_key: str = "test-openai-key"
    queue: deque[tuple[int, dict, dict]] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return super().url + "/v1"

    def script(self, *answers: tuple[int, dict, dict]) -> None:
        self.queue.extend(answers)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                if self.path != "/v1/chat/completions":
                    status, answer, headers = 404, {"error": {"message": "no route"}}, {}
                elif self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    status, answer, headers = 401, {"error": {"message": "bad key"}}, {}
                elif not fake.queue:
                    status, answer, headers = 500, {"error": {"message": "no scripted answer"}}, {}
                else:
                    status, answer, headers = fake.queue.popleft()
                send_json(self, status, answer, headers=headers)

        return Handler
