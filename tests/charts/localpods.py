"""Run rendered pods as local processes: the "render and run" harness of the chart tests.

A container's ``command``/``args`` run with the environment Kubernetes would give it — ``envFrom``
and ``env`` resolved from the ConfigMaps and Secrets of the same render, nothing inherited from the
test process but ``PATH`` — after the cluster's names are mapped to this machine:

- every ``<svc>.<ns>.svc.<domain>:<port>`` in a value becomes the local address standing in for
  that Service (PostgreSQL and Redis of this machine, or the port a started service listens on);
- a container port becomes a free local port (``--port 8000`` → ``--port 4xxxx``, bind
  ``0.0.0.0`` → ``127.0.0.1``), as a pod's own network namespace would keep them apart;
- an ``emptyDir`` mounted at ``/tmp`` becomes a folder of its own per pod.

Probes are the rendered ones: ``httpGet`` on the mapped port, ``exec`` run with the same mapping.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VENV_BIN = str(Path(sys.executable).parent)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LocalPod:
    name: str
    container: dict[str, Any]
    env: dict[str, str]
    argv: list[str]
    ports: dict[str, int]  # container port name -> local port
    folder: Path
    rewrite: Any
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "log.txt"

    def start(self) -> LocalPod:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=self.folder, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    def run(self, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv, env=self.env, cwd=self.folder, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def run_argv(self, argv: list[str], timeout: float = 120) -> str:
        """Another command in this container's environment (``kubectl exec``); its stdout."""
        done = subprocess.run(
            argv, env=self.env, cwd=self.folder, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
        return done.stdout

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def probe(self, kind: str) -> bool:
        """One attempt of the container's ``kind`` probe (readinessProbe, livenessProbe)."""
        spec = self.container[kind]
        if "httpGet" in spec:
            port = spec["httpGet"]["port"]
            local = self.ports[port] if isinstance(port, str) else self.ports_by_number[port]
            url = f"http://127.0.0.1:{local}{spec['httpGet']['path']}"
            try:
                with urllib.request.urlopen(url, timeout=3) as answer:
                    return 200 <= answer.status < 400
            except (urllib.error.URLError, OSError):
                return False
        command = [self.rewrite(word) for word in spec["exec"]["command"]]
        done = subprocess.run(command, env=self.env, cwd=self.folder, capture_output=True)
        return done.returncode == 0

    @property
    def ports_by_number(self) -> dict[int, int]:
        numbers = {p["name"]: p["containerPort"] for p in self.container.get("ports", [])}
        return {numbers[name]: local for name, local in self.ports.items()}

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.process.returncode if self.process else None
                raise AssertionError(f"{self.name} exited ({code}):\n{self.tail()}")
            if self.probe("readinessProbe"):
                return
            time.sleep(0.3)
        raise AssertionError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class LocalCluster:
    """The objects of one render, and the local stand-ins for its Services."""

    def __init__(self, docs: list[dict[str, Any]], addresses: dict[str, str], root: Path) -> None:
        self.docs = docs
        self.addresses = dict(addresses)  # "host:port" in the cluster -> "host:port" here
        self.root = root
        self.pods: list[LocalPod] = []

    def set_docs(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def _object(self, kind: str, name: str) -> dict[str, Any] | None:
        for doc in self.docs:
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
        return None

    def _data(self, kind: str, name: str, optional: bool) -> dict[str, str]:
        doc = self._object(kind, name)
        if doc is None:
            assert optional, f"{kind} {name} is not in the render"
            return {}
        return dict(doc.get("data" if kind == "ConfigMap" else "stringData", {}))

    def _key(self, ref: dict[str, Any], kind: str) -> str | None:
        data = self._data(kind, ref["name"], ref.get("optional", False))
        if ref["key"] not in data:
            assert ref.get("optional", False), f"{kind} {ref['name']} has no key {ref['key']}"
            return None
        return data[ref["key"]]

    def pod(self, name: str, pod_spec: dict[str, Any], container: dict[str, Any]) -> LocalPod:
        folder = self.root / name.replace("/", "_")
        folder.mkdir(parents=True, exist_ok=True)
        tmp_mounts = [
            m["mountPath"]
            for m in container.get("volumeMounts", [])
            if any(v["name"] == m["name"] and "emptyDir" in v for v in pod_spec.get("volumes", []))
        ]
        ports = {p["name"]: free_port() for p in container.get("ports", [])}
        numbers = {
            str(p["containerPort"]): str(ports[p["name"]]) for p in container.get("ports", [])
        }

        def rewrite(value: str) -> str:
            for cluster, local in self.addresses.items():
                value = value.replace(cluster, local)
            for mount in tmp_mounts:
                if (
                    value == mount
                    or value.startswith(mount + "/")
                    or f" {mount}/" in value
                    or f'"{mount}/' in value
                ):
                    value = value.replace(mount, str(folder))
            return value

        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                ref = source["configMapRef"]
                env.update(self._data("ConfigMap", ref["name"], ref.get("optional", False)))
            else:
                ref = source["secretRef"]
                env.update(self._data("Secret", ref["name"], ref.get("optional", False)))
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
                continue
            source = item["valueFrom"]
            kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
            found = self._key(
                source["secretKeyRef" if kind == "Secret" else "configMapKeyRef"], kind
            )
            if found is not None:
                env[item["name"]] = found
        # Only the rendered values name pod paths; this machine's own (the venv may live under
        # /tmp, which the pods mount as an emptyDir) must not be rewritten.
        env = {
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(folder),
            "TMPDIR": str(folder),
            "LANG": "C.UTF-8",
            **{k: rewrite(v) for k, v in env.items()},
        }
        for key, value in env.items():  # a port setting follows its container port
            if key.endswith("_PORT") and value in numbers:
                env[key] = numbers[value]
        argv = [
            rewrite(word) for word in [*container.get("command", []), *container.get("args", [])]
        ]
        for i, word in enumerate(argv[:-1]):
            if word in ("--port", "--metrics-port") and argv[i + 1] in numbers:
                argv[i + 1] = numbers[argv[i + 1]]
            if word == "--host" and argv[i + 1] == "0.0.0.0":
                argv[i + 1] = "127.0.0.1"
        pod = LocalPod(name, container, env, argv, ports, folder, rewrite)
        self.pods.append(pod)
        return pod

    def service_pod(
        self, doc: dict[str, Any], container_name: str | None = None, init: bool = False
    ) -> LocalPod:
        """The named container (default: the first) of a rendered workload or Pod."""
        if doc["kind"] == "Pod":
            spec = doc["spec"]
        elif doc["kind"] == "CronJob":
            spec = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        else:
            spec = doc["spec"]["template"]["spec"]
        containers = spec["initContainers"] if init else spec["containers"]
        container = next(c for c in containers if container_name in (None, c["name"]))
        return self.pod(
            f"{doc['kind']}/{doc['metadata']['name']}/{container['name']}", spec, container
        )

    def expose(self, service_host: str, container_port: int, pod: LocalPod, port_name: str) -> None:
        """``service_host:container_port`` now reaches ``pod``'s port (what a Service does)."""
        self.addresses[f"{service_host}:{container_port}"] = f"127.0.0.1:{pod.ports[port_name]}"

    def stop(self) -> None:
        for pod in reversed(self.pods):
            pod.stop()
