"""The request guard at the ASGI level: what it reads before refusing a body."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message

from krstock.api.infra.guard import RequestGuardMiddleware, control_in_json
from krstock.config import Settings


async def _app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the app must not be reached")


def _run(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int]:
    """(status sent, body messages read) for a POST with ``headers`` and ``chunks``."""
    guard = RequestGuardMiddleware(_app, Settings(max_body_bytes=1024).api)
    reads = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        chunk = chunks[reads - 1]
        return {"type": "http.request", "body": chunk, "more_body": reads < len(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/runs", "headers": headers}
    asyncio.run(guard(scope, receive, send))
    return sent[0]["status"], reads


def test_an_announced_oversized_body_is_refused_without_reading_it() -> None:
    status, reads = _run([(b"content-length", b"5000000")], [b"x"])
    assert (status, reads) == (413, 0)


def test_a_chunked_body_is_refused_at_the_chunk_that_passes_the_limit() -> None:
    chunks = [b"x" * 600] * 10
    status, reads = _run([(b"transfer-encoding", b"chunked")], chunks)
    assert (status, reads) == (413, 2)


def test_a_malformed_content_length_is_400() -> None:
    status, reads = _run([(b"content-length", b"12abc")], [b"x"])
    assert (status, reads) == (400, 0)


def test_control_characters_are_found_deep_in_json_and_in_keys() -> None:
    deep: object = "a\x00"
    for _ in range(3000):  # deeper than Python's recursion limit
        deep = [deep]
    assert control_in_json(deep) is not None
    assert control_in_json({"ok\x01": 1}) == "$ (a key)"
    assert control_in_json({"text": "line\r\nnext\ttab", "n": [1, None, True]}) is None
