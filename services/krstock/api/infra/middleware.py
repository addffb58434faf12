"""Pure-ASGI middleware: request ids, JSON access logs, security headers and metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps the per-request overhead to a few microseconds and
leaves streaming responses (SSE) untouched.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from krstock.api.infra.metrics import IN_FLIGHT, LATENCY, REQUESTS

access_log = logging.getLogger("krstock.api.access")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"geolocation=(), microphone=(), camera=()"),
]
# Everything but the docs pages (which send their own policy) is JSON and locks down fully.
_CSP_API = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SECRET_QUERY = re.compile(r"(api_key=)[^&]*")


def _route_template(scope: Scope) -> str:
    """The matched route as a template (``/api/v1/stocks/{ticker}``): low-cardinality labels.

    Built from the path and its parameters, because routes of included routers do not carry
    their full prefixed path in this FastAPI version.
    """
    if "endpoint" not in scope and "route" not in scope:
        return "unmatched"
    path: str = scope.get("path", "")
    params: dict[str, Any] = scope.get("path_params") or {}
    for name, value in params.items():
        text = str(value)
        if text:
            head, sep, tail = path.rpartition("/" + text)
            if sep:
                path = f"{head}/{{{name}}}{tail}"
    return path


class RequestContextMiddleware:
    """Assigns ``request.state.request_id``, echoes it, adds security headers, logs and counts."""

    def __init__(self, app: ASGIApp, service: str, hsts_max_age_s: int = 0) -> None:
        self.app = app
        self.service = service
        # Only for TLS deployments: browsers then refuse plain HTTP to this host for max-age.
        self.extra_headers = (
            [(b"strict-transport-security", f"max-age={hsts_max_age_s}".encode())]
            if hsts_max_age_s
            else []
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500}
        path: str = scope.get("path", "")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(SECURITY_HEADERS)
                headers.extend(self.extra_headers)
                if not any(name == _CSP_API[0] for name, _ in headers):
                    headers.append(_CSP_API)
                message["headers"] = headers
            await send(message)

        IN_FLIGHT.labels(self.service).inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            IN_FLIGHT.labels(self.service).dec()
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "GET")
            status = status_holder["status"]
            REQUESTS.labels(self.service, method, route, str(status)).inc()
            LATENCY.labels(self.service, method, route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                query = scope.get("query_string", b"").decode("latin-1")
                client = scope.get("client") or ("", 0)
                access_log.info(
                    "request",
                    extra={
                        "service": self.service,
                        "request_id": request_id,
                        "method": method,
                        "path": path,
                        "query": _SECRET_QUERY.sub(r"\1***", query),
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client[0],
                        "api_key": scope["state"].get("api_key_prefix"),
                    },
                )
