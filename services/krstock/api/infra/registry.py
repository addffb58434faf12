"""A small service registry: names → base URLs from the environment, health, round-robin.

``KRSTOCK_SERVICE_<NAME>_URLS`` lists addresses (comma-separated). In a cluster an unset name
resolves to its Kubernetes Service DNS name (``service_dns_template``). With neither, the service
is "local": the gateway serves it in-process from the database.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass, field

import httpx

from krstock.config import ApiSection

SERVICES = ("scanner", "signals", "analyzer")


@dataclass
class Endpoint:
    url: str
    healthy: bool = True
    checked_at: float = 0.0


@dataclass
class ServiceEntry:
    name: str
    endpoints: list[Endpoint]
    _cycle: itertools.count[int] = field(default_factory=itertools.count)

    def pick(self) -> list[Endpoint]:
        """Endpoints in round-robin order, healthy ones first."""
        if not self.endpoints:
            return []
        start = next(self._cycle) % len(self.endpoints)
        ordered = self.endpoints[start:] + self.endpoints[:start]
        return [e for e in ordered if e.healthy] + [e for e in ordered if not e.healthy]


class ServiceRegistry:
    def __init__(self, api: ApiSection, in_cluster: bool | None = None) -> None:
        if in_cluster is None:
            in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        self._entries: dict[str, ServiceEntry] = {}
        self._lock = threading.Lock()
        for name in SERVICES:
            raw: str = getattr(api, f"service_{name}_urls", "")
            urls = [u.strip().rstrip("/") for u in raw.split(",") if u.strip()]
            if not urls and in_cluster:
                urls = [api.service_dns_template.format(name=name)]
            self._entries[name] = ServiceEntry(name, [Endpoint(u) for u in urls])

    def is_remote(self, name: str) -> bool:
        entry = self._entries.get(name)
        return bool(entry and entry.endpoints)

    def endpoints(self, name: str) -> list[Endpoint]:
        entry = self._entries.get(name)
        if entry is None:
            raise KeyError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
        with self._lock:
            return entry.pick()

    def mark(self, endpoint: Endpoint, healthy: bool) -> None:
        endpoint.healthy = healthy
        endpoint.checked_at = time.monotonic()

    def check_health(self, timeout_s: float = 1.0) -> dict[str, list[dict[str, object]]]:
        """Probe every endpoint's /health; updates the flags used by ``pick``."""
        report: dict[str, list[dict[str, object]]] = {}
        with httpx.Client(timeout=timeout_s) as client:
            for name, entry in self._entries.items():
                rows = []
                for endpoint in entry.endpoints:
                    try:
                        ok = client.get(f"{endpoint.url}/health").status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    self.mark(endpoint, ok)
                    rows.append({"url": endpoint.url, "healthy": ok})
                report[name] = rows
        return report

    def describe(self) -> dict[str, object]:
        return {
            name: {
                "mode": "remote" if entry.endpoints else "local",
                "endpoints": [{"url": e.url, "healthy": e.healthy} for e in entry.endpoints],
            }
            for name, entry in self._entries.items()
        }


class HealthChecker:
    """Probes every remote endpoint's /health every ``every_s`` seconds in a daemon thread, so
    round-robin prefers endpoints that answer (a failed call also marks its endpoint down)."""

    def __init__(self, registry: ServiceRegistry, every_s: float = 10.0, timeout_s: float = 1.0):
        self.registry = registry
        self.every_s = every_s
        self.timeout_s = timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="registry-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout_s * 4 + 1)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.registry.check_health(self.timeout_s)
