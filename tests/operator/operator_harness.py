"""Run the real operator (Kopf + kubernetes_asyncio) against kmock's emulator and a fake API.

The fake API speaks the real run-records protocol (``GET /api/v1/runs?scanjob=NS/NAME`` →
``{"data": [...], "count", "limit", "next_cursor"}``, newest first) and can be stopped and
restarted on the same port to emulate an outage.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import kmock
import kopf
import kopf.testing
import yaml
from aiohttp import web
from crd_validator import defaulted, validate
from k8s_emulator import make_emulator

from krstock_operator import config as operator_config
from krstock_operator.crdgen import scanjob_crd, signalpolicy_crd

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = "krstock_operator.handlers"
SCANJOBS = "krstock.io/v1alpha1/scanjobs"
POLICIES = "krstock.io/v1alpha1/signalpolicies"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeApi:
    """The krstock API's run records (its /api/v1 list envelope), with an off switch."""

    def __init__(self) -> None:
        self.port = free_port()
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[str] = []
        app = web.Application()
        app.router.add_get("/api/v1/runs", self._runs)
        self._runner = web.AppRunner(app)
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _runs(self, request: web.Request) -> web.Response:
        scanjob = request.query.get("scanjob", "")
        self.requests.append(scanjob)
        limit = int(request.query.get("limit", "50"))
        runs = sorted(
            self.runs.get(scanjob, []), key=lambda r: r.get("created_at", ""), reverse=True
        )[:limit]
        return web.json_response(
            {"data": runs, "count": len(runs), "limit": limit, "next_cursor": None}
        )

    async def start(self) -> None:
        if self._runner.server is None:
            await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()

    async def stop(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def close(self) -> None:
        await self.stop()
        await self._runner.cleanup()


class Harness:
    def __init__(self, emulator: kmock.KubernetesEmulator, server: kmock.Server, api: FakeApi):
        self.emulator = emulator
        self.server = server
        self.api = api
        self.scanjob_crd = scanjob_crd()
        self.policy_crd = signalpolicy_crd()
        self.created: list[tuple[str, str, str]] = []  # (plural, namespace, name)

    # --- writing, like kubectl apply against a real API server (defaults + validation) ---
    async def create(self, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        obj["metadata"]["namespace"] = namespace
        crd = self.scanjob_crd if obj["kind"] == "ScanJob" else self.policy_crd
        errors = validate(crd, obj)
        assert not errors, errors
        obj = defaulted(crd, obj)
        plural = "scanjobs" if obj["kind"] == "ScanJob" else "signalpolicies"
        response = await self.server.client.post(
            f"/apis/krstock.io/v1alpha1/namespaces/{namespace}/{plural}", json=obj
        )
        assert response.status in (200, 201), await response.text()
        self.created.append((plural, namespace, obj["metadata"]["name"]))
        return await response.json()

    async def cleanup(self) -> None:
        """Delete what a test created, so later tests' resyncs do not carry it."""
        while self.created:
            plural, namespace, name = self.created.pop()
            resource = f"krstock.io/v1alpha1/{plural}"
            if self.get(resource, namespace, name) is not None:
                await self.delete(plural, namespace, name)

    async def patch_spec(self, kind: str, namespace: str, name: str, spec: dict[str, Any]) -> None:
        current = self.get(SCANJOBS if kind == "ScanJob" else POLICIES, namespace, name)
        assert current is not None
        merged = _merge(copy.deepcopy(current), {"spec": spec})
        crd = self.scanjob_crd if kind == "ScanJob" else self.policy_crd
        errors = validate(crd, merged)
        assert not errors, errors
        plural = "scanjobs" if kind == "ScanJob" else "signalpolicies"
        response = await self.server.client.patch(
            f"/apis/krstock.io/v1alpha1/namespaces/{namespace}/{plural}/{name}",
            json={"spec": spec},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status == 200, await response.text()

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        response = await self.server.client.delete(
            f"/apis/krstock.io/v1alpha1/namespaces/{namespace}/{plural}/{name}"
        )
        assert response.status == 200, await response.text()

    # --- reading the emulator's store ---
    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        wanted = kmock.resource(resource)
        for (res, ns, obj_name), obj in self.emulator.objects.items():
            if res == wanted and ns == namespace and obj_name == name and not obj.deleted:
                return copy.deepcopy(obj.raw)
        return None

    def all(self, resource: str, namespace: str) -> dict[str, dict[str, Any]]:
        wanted = kmock.resource(resource)
        return {
            name: copy.deepcopy(obj.raw)
            for (res, ns, name), obj in self.emulator.objects.items()
            if res == wanted and ns == namespace and not obj.deleted
        }

    def requests(self) -> list[Any]:
        """Every request the emulator served (kmock 0.8 keeps them on the handler)."""
        return list(self.emulator._requests)

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get(SCANJOBS, namespace, name) or {}
        return obj.get("status") or {}

    def condition(self, namespace: str, name: str, kind: str) -> dict[str, Any]:
        for condition in self.status(namespace, name).get("conditions", []):
            if condition["type"] == kind:
                return dict(condition)
        return {}

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.all("v1/events", namespace).values()
            if e.get("involvedObject", {}).get("name") == name
        ]

    async def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                if os.environ.get("KRSTOCK_TEST_TRACE_WAITS"):
                    elapsed = timeout - (deadline - time.monotonic())
                    sys.__stderr__.write(f"waited {elapsed:.2f}s for {what}\n")
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def example(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples" / name).read_text(encoding="utf-8"))


def _drop_kopf_handlers() -> None:
    """kopf's root handler writes to its runner's captured stderr, closed once the operator
    stops: a later record would print "I/O operation on closed file"."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler).__name__ == "_KopfStreamHandler":
            root.removeHandler(handler)


@asynccontextmanager
async def running_operator(*, keda: bool) -> AsyncIterator[Harness]:
    """Emulator + fake API + the real operator (its own thread), torn down in order."""
    emulator = make_emulator(keda=keda)
    api = FakeApi()
    await api.start()
    async with emulator, kmock.Server(emulator) as server:
        liveness_port = free_port()
        env = {
            "KRSTOCK_OPERATOR_KUBE_URL": str(server.url).rstrip("/"),
            "KRSTOCK_OPERATOR_API_URL": api.url,
            "KRSTOCK_OPERATOR_API_TIMEOUT_S": "1",
            "KRSTOCK_OPERATOR_RESYNC_SECONDS": "1",
            "KRSTOCK_OPERATOR_METRICS_PORT": "0",
            "KRSTOCK_OPERATOR_KEDA_CACHE_S": "0",
        }
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        operator_config.get_settings.cache_clear()
        registry = kopf.OperatorRegistry()
        kopf.set_default_registry(registry)
        # A fresh import per operator: its handlers land in this registry, its state starts empty.
        sys.modules.pop(HANDLERS, None)
        runner = kopf.testing.KopfRunner(
            [
                "run",
                "--standalone",
                "--all-namespaces",
                f"--liveness=http://127.0.0.1:{liveness_port}/healthz",
                "--module",
                HANDLERS,
            ],
            registry=registry,
            timeout=15,
        )
        runner.__enter__()
        harness = Harness(emulator, server, api)
        harness.liveness_url = f"http://127.0.0.1:{liveness_port}/healthz"  # type: ignore[attr-defined]
        harness.runner = runner  # type: ignore[attr-defined]
        try:
            yield harness
        finally:
            await asyncio.to_thread(runner.__exit__, None, None, None)
            _drop_kopf_handlers()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            operator_config.get_settings.cache_clear()
            await api.close()
