"""JSON responses with ETag/If-None-Match, Cache-Control, cursor pagination and ``fields=``."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from krstock.api.infra.errors import ApiError
from krstock.cache import dumps


def json_response(
    request: Request,
    body: bytes | Any,
    *,
    max_age: int = 0,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Serialized JSON with an ETag; 304 when the client already has this body."""
    raw = body if isinstance(body, bytes) else dumps(body)
    # Weak: the same JSON may leave gzipped or not, byte-different but semantically equal.
    etag = 'W/"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"'
    extra = dict(headers or {})
    extra["ETag"] = etag
    extra["Cache-Control"] = f"public, max-age={max_age}" if max_age > 0 else "no-cache"
    if status == 200 and etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=extra)
    return Response(content=raw, status_code=status, media_type="application/json", headers=extra)


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values), default=str)).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise ApiError(400, "invalid cursor: pass back the next_cursor of a previous page") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise ApiError(400, "invalid cursor: pass back the next_cursor of a previous page")
    return values


def select_fields(items: list[dict[str, Any]], fields: str | None) -> list[dict[str, Any]]:
    """Keep only the requested top-level fields; unknown names are a 400 naming them."""
    if not fields:
        return items
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    if not wanted:
        return items
    if items:
        unknown = [f for f in wanted if f not in items[0]]
        if unknown:
            raise ApiError(
                400,
                f"unknown field(s) {', '.join(unknown)}; available: {', '.join(items[0])}",
            )
    return [{k: item[k] for k in wanted if k in item} for item in items]


def page(items: list[dict[str, Any]], limit: int, next_key: Sequence[Any] | None) -> dict[str, Any]:
    """The /api/v1 list envelope."""
    return {
        "data": items,
        "count": len(items),
        "limit": limit,
        "next_cursor": encode_cursor(next_key) if next_key is not None else None,
    }
