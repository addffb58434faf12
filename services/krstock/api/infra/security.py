"""API-key authentication as FastAPI dependencies, wired on every write, trigger and admin route.

Keys come from ``X-API-Key``, ``Authorization: Bearer <key>`` or, only on the streams whose
browser clients cannot set headers (EventSource, WebSocket), ``?api_key=``: elsewhere a key in
the URL (kept by proxies and browser history) is not looked at. Bodies of 401/403 say why.

A request without a key from one of ``write_trusted_networks`` (off unless configured) passes
the read and write checks, never the admin one: the monolith's frontend has no way to send a
key. Its address is the socket peer; ``X-Forwarded-For`` is read only when that peer is one of
``trusted_proxies``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from krstock.api.infra.apikeys import KeyRecord, KeyVerifier
from krstock.api.infra.errors import ApiError
from krstock.api.infra.ratelimit import (
    limit_verified_key,
    record_auth_failure,
    refuse_if_failing,
)
from krstock.api.infra.state import get_state

# Declared for OpenAPI (the "Authorize" button); the actual lookup also reads Bearer and ?api_key.
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="krstock API key")

_REASONS = {
    "malformed": "the API key is malformed (expected ks_<prefix>_<secret>)",
    "unknown": "the API key is not valid",
    "revoked": "the API key has been revoked",
}


# The SSE routes (GET); every WebSocket route may take ``?api_key=`` too.
STREAM_PATHS = frozenset({"/api/system/update-data-stream", "/api/system/update-single"})
_URL_KEY_ELSEWHERE = (
    "; ?api_key= is accepted only on the streaming routes, send the X-API-Key header"
)


def url_key_allowed(request: HTTPConnection) -> bool:
    if request.scope["type"] == "websocket":
        return True
    return request.scope.get("method") == "GET" and request.scope.get("path") in STREAM_PATHS


def presented_key(request: HTTPConnection) -> str | None:
    key = request.headers.get("x-api-key")
    if not key:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
    if not key and url_key_allowed(request):
        key = request.query_params.get("api_key")
    return key or None


def _verifier(request: HTTPConnection) -> KeyVerifier:
    state = get_state(request)
    verifier = state.extras.get("key_verifier")
    if verifier is None:
        verifier = KeyVerifier(state.engine)
        state.extras["key_verifier"] = verifier
    return verifier


# The scopes a request from a trusted network gets without a key (admin never does).
TRUSTED_NETWORK_SCOPES = frozenset({"read", "write"})
TRUSTED_NETWORK_MARK = "trusted-network"  # the access log's api_key field for those requests
log = logging.getLogger("krstock.api.infra.security")
Address = IPv4Address | IPv6Address


def _address(text: str) -> Address | None:
    try:
        address = ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return mapped or address


def _within(address: Address, networks: list[str]) -> bool:
    return any(address in ip_network(network) for network in networks)


def network_client(request: HTTPConnection, trusted_proxies: list[str]) -> Address | None:
    """The client's address for the trusted-network check: the socket peer, or, when the peer
    is a trusted proxy, the nearest ``X-Forwarded-For`` entry that is not itself a trusted
    proxy (entries further left are whatever the client claimed). None when unknown."""
    peer = _address(request.client.host) if request.client else None
    if peer is None or not trusted_proxies or not _within(peer, trusted_proxies):
        return peer
    hops = [h for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return None  # a garbled chain names nobody
        if not _within(address, trusted_proxies):
            return address
    return peer if not hops else _address(hops[0])


def trusted_network_client(request: HTTPConnection) -> str | None:
    """The client's address when it lies in ``write_trusted_networks``, else None."""
    api = get_state(request).api
    if not api.write_trusted_networks:
        return None
    address = network_client(request, api.trusted_proxies)
    if address is None or not _within(address, api.write_trusted_networks):
        return None
    return str(address)


def authenticate(request: HTTPConnection, scope: str, required: bool) -> KeyRecord | None:
    key = presented_key(request)
    if key is None:
        if required and scope in TRUSTED_NETWORK_SCOPES:
            client = trusted_network_client(request)
            if client is not None:
                request.scope.setdefault("state", {})["api_key_prefix"] = TRUSTED_NETWORK_MARK
                log.info(
                    "%s without a key from trusted network client %s",
                    scope,
                    client,
                    extra={"path": request.url.path},
                )
                return None
        if required:
            hint = _URL_KEY_ELSEWHERE if "api_key" in request.query_params else ""
            raise ApiError(
                401,
                f"an API key with the '{scope}' scope is required: send it in the X-API-Key "
                f"header{hint}",
                "missing_api_key",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        return None
    refuse_if_failing(request)
    verdict = _verifier(request).verify(key)
    if verdict.reason != "ok" or verdict.record is None:
        record_auth_failure(request)
        raise ApiError(
            401,
            _REASONS[verdict.reason],
            f"{verdict.reason}_api_key",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    record = verdict.record
    limit_verified_key(request, record.prefix)
    request.scope.setdefault("state", {})["api_key_prefix"] = record.prefix
    request.state.api_key = record
    if not record.grants(scope):
        raise ApiError(
            403,
            f"the API key '{record.name}' lacks the '{scope}' scope "
            f"(it has: {', '.join(record.scopes)})",
            "insufficient_scope",
        )
    return record


def require(scope: str) -> Callable[..., Awaitable[KeyRecord | None]]:
    """A dependency demanding a valid key with ``scope`` (``read``, ``write`` or ``admin``)."""

    async def dependency(
        request: Request, _: str | None = Depends(api_key_header)
    ) -> KeyRecord | None:
        if presented_key(request) is None:  # no database work needed to refuse
            return authenticate(request, scope, required=True)
        return await run_in_threadpool(authenticate, request, scope, True)

    dependency.__name__ = f"require_{scope}"
    return dependency


async def read_access(
    request: Request, _: str | None = Depends(api_key_header)
) -> KeyRecord | None:
    """Reads are open unless ``api_require_key_for_reads``; a presented key is always checked.

    Async so that an open read costs no thread hop; key checks (a database lookup at most every
    few seconds per key) run in the thread pool.
    """
    required = get_state(request).settings.api.api_require_key_for_reads
    if presented_key(request) is None:
        return authenticate(request, "read", required=required)
    return await run_in_threadpool(authenticate, request, "read", required)


require_write = require("write")
require_admin = require("admin")
