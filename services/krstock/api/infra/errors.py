"""One error body per API family, and handlers that never leak stack traces or SQL.

``/api/v1/*`` and the internal services answer ``{"error": {"code", "message", "request_id"}}``;
the monolith routes (``/api/kr/*``, ``/api/*``) keep the monolith's ``{"error": "<str>"}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("krstock.api.infra.errors")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class ApiError(Exception):
    """An error with a status, a stable machine code and a message meant for the client."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _STATUS_CODES.get(status, "error")
        self.headers = headers
        self.extra = extra or {}


def is_legacy_path(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith("/api/v1")


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or request.headers.get("x-request-id", ""))


def error_response(
    request: Request,
    status: int,
    message: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any]
    if is_legacy_path(request.url.path):
        body = {"error": message, **(extra or {})}
    else:
        error: dict[str, Any] = {
            "code": code or _STATUS_CODES.get(status, "error"),
            "message": message,
            "request_id": request_id_of(request),
        }
        if extra:
            error["details"] = extra
        body = {"error": error}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid input: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.message, exc.code, exc.headers, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 422, _validation_message(exc), "invalid_input")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        headers = dict(exc.headers) if exc.headers else None
        return error_response(request, exc.status_code, message, headers=headers)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if not exc.connection_invalidated and not isinstance(exc, OperationalError):
            return await _unexpected(request, exc)
        log.warning(
            "database unavailable: %s",
            type(exc.orig).__name__,
            extra={"request_id": request_id_of(request), "path": request.url.path},
        )
        return error_response(
            request,
            503,
            "the database is unavailable; retry later",
            "database_unavailable",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The client gets the request id to quote; the trace stays in the log.
        log.exception(
            "unhandled error",
            extra={"request_id": request_id_of(request), "path": request.url.path},
        )
        # This answer is written by Starlette's outermost error middleware, outside the
        # request-context middleware: it carries the request id and security headers itself.
        from krstock.api.infra.middleware import SECURITY_HEADERS

        headers = {k.decode(): v.decode() for k, v in SECURITY_HEADERS}
        headers["X-Request-ID"] = request_id_of(request)
        return error_response(
            request,
            500,
            "internal error; quote the request id when reporting it",
            headers=headers,
        )
