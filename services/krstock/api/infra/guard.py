"""Pure-ASGI request guard: body size limits (413) and control characters in input (400).

Runs before routing, so no route can forget it:

- a body longer than its limit (``max_body_bytes``; more for the paths listed in
  ``max_body_bytes_by_path``) is refused from its ``Content-Length`` before a byte is read, and
  a chunked body is counted while it streams in and refused as soon as it passes the limit;
- the path and query parameters may not hold control characters (NUL among them, which
  PostgreSQL refuses in text: a 500 before), and JSON bodies may not hold them in any key or
  string except tab, newline and carriage return; other bodies may not hold NUL bytes.

The accepted body is buffered (it is small by construction) and handed on unchanged.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from krstock.api.infra.errors import is_legacy_path
from krstock.config import ApiSection

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # \t \n \r allowed


class RequestRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp, api: ApiSection) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_target(scope)
            body = await self._read_body(scope, receive)
            if body is not None:
                check_body(scope, body)
        except RequestRefused as refused:
            await _refuse(scope, receive, send, refused)
            return
        await self.app(scope, _replay(body, receive) if body is not None else receive, send)

    def limit_for(self, path: str) -> int:
        return self.api.max_body_bytes_by_path.get(path, self.api.max_body_bytes)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, within its limit; None when the request announces none."""
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is None and b"transfer-encoding" not in headers:
            return None
        limit = self.limit_for(scope["path"])
        if length is not None:
            if not length.isdigit():
                raise RequestRefused(400, "invalid Content-Length")
            if int(length) > limit:
                raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                raise RequestRefused(400, "the request body ended early")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(limit: int) -> RequestRefused:
    return RequestRefused(413, f"the request body is too large: at most {limit} bytes here")


def check_target(scope: Scope) -> None:
    """No control characters in the path or in any query parameter's name or value."""
    if _CONTROL.search(scope.get("path", "")):
        raise RequestRefused(400, "the path holds a control character")
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise RequestRefused(
                400, f"query parameter {name[:32]!r} holds a control character (NUL included)"
            )


def check_body(scope: Scope, body: bytes) -> None:
    if not body:
        return
    content_type = dict(scope.get("headers", [])).get(b"content-type", b"").lower()
    if b"json" in content_type:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return  # the route's own parsing answers malformed JSON
        where = control_in_json(parsed)
        if where is not None:
            raise RequestRefused(400, f"the JSON body holds a control character in {where}")
    elif b"\x00" in body:
        raise RequestRefused(400, "the request body holds a NUL byte")


def control_in_json(value: Any) -> str | None:
    """Where a string of ``value`` (keys included) holds a control character; iterative, as
    bodies may nest deeper than Python's recursion limit."""
    stack: list[tuple[str, Any]] = [("$", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if _CONTROL_IN_TEXT.search(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                if _CONTROL.search(key):
                    return f"{where} (a key)"
                stack.append((f"{where}.{key[:32]}", child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(item))
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hands the buffered body on once, then the real channel (disconnects, for streams)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _refuse(scope: Scope, receive: Receive, send: Send, refused: RequestRefused) -> None:
    path = scope.get("path", "")
    content: dict[str, Any]
    if is_legacy_path(path):
        content = {"error": refused.message}
    else:
        code = "payload_too_large" if refused.status == 413 else "bad_request"
        request_id = scope.get("state", {}).get("request_id", "")
        content = {"error": {"code": code, "message": refused.message, "request_id": request_id}}
    # Close the connection after a refused body: the rest of it is never read.
    headers = {"Connection": "close"} if refused.status == 413 else None
    await JSONResponse(content, status_code=refused.status, headers=headers)(scope, receive, send)
