"""Calls between services: httpx with timeouts, bounded retries and a circuit breaker.

Only idempotent requests (GET, HEAD) are retried, and only on transport errors or 502/503/504.
After ``breaker_failures`` consecutive failures a service's breaker opens for ``breaker_reset_s``
and calls fail fast; then one trial call is let through (half-open) and its result decides.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from krstock.api.infra.metrics import BREAKER_OPEN, UPSTREAM
from krstock.api.infra.registry import ServiceRegistry
from krstock.config import ApiSection

log = logging.getLogger("krstock.api.infra.client")
_IDEMPOTENT = {"GET", "HEAD", "OPTIONS"}
_RETRY_STATUS = {502, 503, 504}


class UpstreamUnavailable(RuntimeError):
    """The service could not answer (down, timing out, or its breaker is open)."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service} service unavailable: {reason}")
        self.service = service
        self.reason = reason


class CircuitBreaker:
    def __init__(self, name: str, failures: int, reset_s: float) -> None:
        self.name = name
        self.threshold = failures
        self.reset_s = reset_s
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_running = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.reset_s else "open"

    def allow(self) -> bool:
        with self._lock:
            state = self.state
            if state == "closed":
                return True
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None
            self._trial_running = False
        BREAKER_OPEN.labels(self.name).set(0)

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            self._trial_running = False
            if self.failures >= self.threshold or self.opened_at is not None:
                self.opened_at = time.monotonic()
                BREAKER_OPEN.labels(self.name).set(1)


class ServiceClient:
    def __init__(self, registry: ServiceRegistry, api: ApiSection) -> None:
        self.registry = registry
        self.api = api
        self.http = httpx.Client(
            timeout=httpx.Timeout(api.upstream_timeout_s, connect=min(1.0, api.upstream_timeout_s)),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        )
        self.breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, service: str) -> CircuitBreaker:
        if service not in self.breakers:
            self.breakers[service] = CircuitBreaker(
                service, self.api.breaker_failures, self.api.breaker_reset_s
            )
        return self.breakers[service]

    def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        breaker = self.breaker(service)
        if not breaker.allow():
            UPSTREAM.labels(service, "breaker_open").inc()
            raise UpstreamUnavailable(service, "circuit breaker open")
        endpoints = self.registry.endpoints(service)
        if not endpoints:
            raise UpstreamUnavailable(service, "no address configured")
        attempts = 1 + (self.api.upstream_retries if method.upper() in _IDEMPOTENT else 0)
        last_error = "no attempt made"
        for attempt in range(attempts):
            endpoint = endpoints[attempt % len(endpoints)]
            try:
                response = self.http.request(
                    method, endpoint.url + path, params=params, json=json, headers=headers
                )
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__} from {endpoint.url}"
                self.registry.mark(endpoint, False)
                UPSTREAM.labels(service, "transport_error").inc()
                continue
            if response.status_code in _RETRY_STATUS:
                last_error = f"HTTP {response.status_code} from {endpoint.url}"
                UPSTREAM.labels(service, "bad_status").inc()
                continue
            self.registry.mark(endpoint, True)
            breaker.success()
            UPSTREAM.labels(service, "ok").inc()
            return response
        breaker.failure()
        raise UpstreamUnavailable(service, last_error)

    def close(self) -> None:
        self.http.close()
