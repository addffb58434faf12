"""Policy resolution and convergence bookkeeping, without a cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from krstock.domain.policy import SignalPolicy
from krstock_operator.converge import LAST_APPLIED, converge
from krstock_operator.manifests import Owner
from krstock_operator.policy import PolicyProblem, resolve
from krstock_operator.structural import apply_defaults

OWNER = Owner(namespace="ns", name="job", uid="u-1")


def test_policy_resolution_completes_the_preset() -> None:
    known = {("ns", "tight"): {"extends": "p10", "vcp": {"min_contractions": 3}}}
    doc = resolve("ns", "tight", known)
    assert doc is not None and doc.name == "tight"
    policy = SignalPolicy.model_validate(json.loads(doc.data))
    assert policy.name == "tight" and policy.extends == "p10"
    assert policy.vcp.min_contractions == 3
    assert policy.closing_bet == SignalPolicy.preset("p10").closing_bet  # the preset's values
    assert len(doc.digest) == 64
    other = resolve("ns", "tight", {("ns", "tight"): {"extends": "p10"}})
    assert other is not None and other.digest != doc.digest
    assert resolve("ns", None, known) is None


def test_policy_problems_name_the_cause() -> None:
    with pytest.raises(PolicyProblem) as missing:
        resolve("ns", "gone", {("other", "gone"): {}})
    assert missing.value.reason == "PolicyNotFound"
    assert "ns/gone" in missing.value.message
    with pytest.raises(PolicyProblem) as invalid:
        resolve("ns", "bad", {("ns", "bad"): {"vcp": {"base_days": 1000}}})
    assert invalid.value.reason == "PolicyInvalid"
    assert "vcp.base_days" in invalid.value.message


class MemoryStore:
    """An in-memory child store; ``refuse`` makes one kind's writes fail like an API server."""

    def __init__(self, refuse: str | None = None) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.refuse = refuse
        self.calls: list[tuple[str, str, str]] = []

    def _check(self, kind: str) -> None:
        if kind == self.refuse:
            raise ApiException(status=403, reason="Forbidden")

    async def list_owned(self, kind: str, owner: Owner) -> list[dict[str, Any]]:
        return [o for (k, _), o in self.objects.items() if k == kind]

    async def create(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._check(kind)
        self.calls.append(("create", kind, obj["metadata"]["name"]))
        self.objects[(kind, obj["metadata"]["name"])] = obj
        return obj

    async def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> Any:
        self._check(kind)
        self.calls.append(("patch", kind, name))
        self.objects[(kind, name)] = {**self.objects[(kind, name)], **patch}
        return self.objects[(kind, name)]

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        self._check(kind)
        self.calls.append(("delete", kind, name))
        del self.objects[(kind, name)]


def _cm(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns", "labels": {"a": "b"}},
        "data": {"k": value},
    }


async def _existing(store: MemoryStore) -> dict[str, list[dict[str, Any]]]:
    return {"ConfigMap": await store.list_owned("ConfigMap", OWNER)}


async def test_converge_creates_patches_only_on_change_and_deletes_orphans() -> None:
    store = MemoryStore()
    first = await converge(store, OWNER, [_cm("a", "1"), _cm("b", "1")], await _existing(store))
    assert first.created == ["ConfigMap/a", "ConfigMap/b"]
    assert LAST_APPLIED in store.objects[("ConfigMap", "a")]["metadata"]["annotations"]
    again = await converge(store, OWNER, [_cm("a", "1"), _cm("b", "1")], await _existing(store))
    assert again.unchanged == ["ConfigMap/a", "ConfigMap/b"] and not again.patched
    changed = await converge(store, OWNER, [_cm("a", "2")], await _existing(store))
    assert changed.patched == ["ConfigMap/a"] and changed.deleted == ["ConfigMap/b"]
    assert changed.children == ["ConfigMap/a"]


async def test_converge_records_refusals_and_carries_on() -> None:
    store = MemoryStore(refuse="ConfigMap")
    outcome = await converge(store, OWNER, [_cm("a", "1")], {"ConfigMap": []})
    assert outcome.errors == ["ConfigMap/a: 403 Forbidden"]
    assert outcome.children == []


def test_defaults_fill_nested_objects_and_lists() -> None:
    schema = {
        "type": "object",
        "properties": {
            "outer": {
                "type": "object",
                "default": {},
                "properties": {"n": {"type": "integer", "default": 3}},
            },
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"x": {"type": "string", "default": "d"}},
                },
            },
            "absent": {"type": "object", "properties": {"y": {"type": "integer", "default": 1}}},
        },
    }
    value = {"items": [{}, {"x": "set"}]}
    assert apply_defaults(schema, value) == {
        "items": [{"x": "d"}, {"x": "set"}],
        "outer": {"n": 3},
    }
    assert value == {"items": [{}, {"x": "set"}]}  # the input is not modified


def _serve_status(code: int) -> tuple[Any, str, list[dict[str, Any]]]:
    """A one-route HTTP server answering POST /api/v1/runs with ``code``; records the bodies."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            bodies.append({"path": self.path, "key": self.headers.get("X-API-Key"),
                           "json": json.loads(self.rfile.read(length))})  # fmt: skip
            payload = json.dumps({"run_id": "r1"} if code == 202 else {"error": "busy"}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            """Silent: a line per request would bury the test output."""

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}", bodies


@pytest.mark.parametrize(("code", "exit_code"), [(202, 0), (409, 0), (500, 1), (422, 1)])
def test_enqueue_exit_codes(code: int, exit_code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from krstock_operator import enqueue

    server, url, bodies = _serve_status(code)
    monkeypatch.setenv("KRSTOCK_API_KEY", "k-write")
    try:
        argv = ["--api", url, "--kind", "vcp", "--scanjob", "ns/job", "--param", "start=2025-01-02",
                "--tickers", "005930, 000660"]  # fmt: skip
        assert enqueue.main([*argv, "--policy", "/etc/krstock/p/job.json"]) == exit_code
    finally:
        server.shutdown()
    (sent,) = bodies
    assert sent["path"] == "/api/v1/runs" and sent["key"] == "k-write"
    assert sent["json"] == {
        "kind": "vcp",
        "scanjob": "ns/job",
        "params": {"start": "2025-01-02", "tickers": ["005930", "000660"]},
        "policy": "/etc/krstock/p/job.json",
    }


def test_enqueue_unreachable_api_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from krstock_operator import enqueue

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert enqueue.main(["--api", f"http://127.0.0.1:{port}", "--kind", "vcp",
                         "--scanjob", "ns/job", "--timeout", "2"]) == 1  # fmt: skip
    with pytest.raises(SystemExit, match="not KEY=VALUE"):
        enqueue.main(["--api", "http://x", "--kind", "vcp", "--scanjob", "a/b", "--param", "x"])


@pytest.mark.parametrize("version", ["1.29.0", "1.31.0"])
def test_event_bodies_are_valid_core_events(version: str) -> None:
    import datetime as dt

    import kubernetes_validate

    from krstock_operator.kube import event_body

    scanjob = {
        "apiVersion": "krstock.io/v1alpha1",
        "kind": "ScanJob",
        "metadata": {"name": "daily-vcp", "namespace": "markets", "uid": "u-1"},
    }
    now = dt.datetime(2026, 11, 27, 7, 10, tzinfo=dt.UTC)
    event = event_body(scanjob, "Warning", "PolicyNotFound", "x" * 2000, now)
    kubernetes_validate.validate(event, version, strict=True)
    assert event["involvedObject"]["uid"] == "u-1" and len(event["message"]) == 1024
    assert event["lastTimestamp"] == "2026-11-27T07:10:00Z"
