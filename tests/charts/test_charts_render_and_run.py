"""Render and run: the chart's gateway, scanner, signals and analyzer, its migration Job, its
maintenance CronJob, its helm-test pod and one worker Deployment the operator builds from the
chart's settings run as local processes (localpods.py: the rendered command, args, env from the
rendered ConfigMaps and Secrets, the cluster's addresses mapped to this machine's PostgreSQL and
Redis). Each becomes ready on its rendered probe or exits 0, and the worker completes a
closing-bet scan that the operator's enqueue pod starts through the gateway.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from chart_helpers import (
    DEFAULTS,
    NAMESPACE,
    Helm,
    by_kind,
    named,
    operator_children,
    parse,
    template_args,
)
from localpods import LocalCluster, LocalPod

pytestmark = pytest.mark.integration

FQDN = f"{NAMESPACE}.svc.cluster.local"
SERVICES = ("scanner", "signals", "analyzer")  # the gateway's upstreams, started first
SCANJOB = "render"


class Platform:
    def __init__(self, helm: Helm, admin_url: str, redis_url: str, root: Path) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.helm = helm
        self.admin_url = admin_url
        self.database = f"krstock_render_{suffix}"
        self.app_role = f"krstock_render_app_{suffix}"
        redis = urlsplit(redis_url)
        self.redis_db = int(redis.path.strip("/") or 0)
        pg = urlsplit(admin_url)
        self.cluster = LocalCluster(
            self.render(),
            {
                f"krstock-timescaledb.{FQDN}:5432": f"{pg.hostname}:{pg.port or 5432}",
                f"krstock-redis.{FQDN}:6379": f"{redis.hostname}:{redis.port or 6379}",
            },
            root,
        )

    def render(self, *extra: str) -> list[dict[str, Any]]:
        args = template_args(
            "-f", str(DEFAULTS),
            "--set", f"database.name={self.database}",
            "--set", f"database.appRole={self.app_role}",
            "--set", f"redis.database={self.redis_db}",
            *extra,
        )  # fmt: skip
        return parse(self.helm(*args).stdout)

    def create(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (self.database,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            conn.execute(f'DROP ROLE IF EXISTS "{self.app_role}"')


@pytest.fixture(scope="module")
def platform(
    helm: Helm, admin_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    platform = Platform(helm, admin_url, redis_url, tmp_path_factory.mktemp("pods"))
    platform.create()
    try:
        yield platform
    finally:
        platform.cluster.stop()
        platform.drop()


def _get(url: str, key: str | None = None) -> Any:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def test_the_rendered_platform_runs_and_a_worker_completes_a_scan(platform: Platform) -> None:
    cluster = platform.cluster
    docs = cluster.docs
    gateway_doc = named(docs, "Deployment", "krstock-gateway")

    # 1. An app pod's init container waits while the schema is missing ...
    waiting = cluster.service_pod(gateway_doc, init=True).start()
    time.sleep(3)
    assert waiting.alive(), f"the init container did not wait:\n{waiting.tail()}"

    # 2. ... the migration Job (the schema owner's credentials) migrates and grants the app role ...
    (job,) = by_kind(docs)["Job"]
    migrate = cluster.service_pod(job)
    done = migrate.run(timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True
    assert migrate.env["KRSTOCK_MIGRATION_DATABASE_URL"].startswith("postgresql://postgres:")

    # ... and the init container lets the pod start.
    assert waiting.process is not None
    assert waiting.process.wait(timeout=60) == 0, waiting.tail()

    # 3. A write key (`kubectl exec deploy/krstock-gateway -- krstock apikey create`), put in the
    # values; the Secret changes, the migration Job (same spec) keeps its name.
    shell = cluster.service_pod(gateway_doc, container_name="gateway")
    created = shell.run_argv(
        ["krstock", "apikey", "create", "--name", "scanjobs", "--scopes", "write", "--json"]
    )
    key = json.loads(created)["key"]
    docs = platform.render("--set", f"secrets.apiKey={key}")
    cluster.set_docs(docs)
    assert by_kind(docs)["Job"][0]["metadata"]["name"] == job["metadata"]["name"]
    # Market data for the scan (the sample source; what `krstock collect` does in a pod).
    shell.run_argv(
        [
            "krstock",
            "collect",
            "--source",
            "sample",
            "--start",
            "2026-09-01",
            "--end",
            "2026-11-20",
            "--json",
        ]
    )

    # 4. The services, upstreams first (the gateway's addresses point at them), each ready on its
    # rendered readiness probe (/ready: the database and Redis answer).
    pods: dict[str, LocalPod] = {}
    for name in (*SERVICES, "gateway"):
        pod = cluster.service_pod(named(docs, "Deployment", f"krstock-{name}"), container_name=name)
        pods[name] = pod.start()
        pod.wait_ready(timeout=90)
        assert pod.probe("livenessProbe")
        cluster.expose(f"krstock-{name}.{FQDN}", 8000, pod, "http")
    gateway = f"http://127.0.0.1:{pods['gateway'].ports['http']}"
    assert _get(f"{gateway}/ready")["checks"] == {"database": "ok", "redis": "ok"}

    # 5. The helm test pod passes (schema at head, the gateway's /ready).
    test_pod = cluster.service_pod(named(docs, "Pod", "krstock-test"))
    checked = test_pod.run(timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # The maintenance CronJob's pod (schema owner): on plain PostgreSQL nothing to maintain, exit 0.
    upkeep = cluster.service_pod(named(docs, "CronJob", "krstock-maintenance")).run(timeout=120)
    assert upkeep.returncode == 0, upkeep.stdout + upkeep.stderr

    # 6. The operator's children for a run-once closing-bet ScanJob, with the chart's settings:
    # the worker Deployment (queue scan) gets ready on its file probe, the enqueue Job starts the
    # run through the gateway, and the worker completes it.
    children = operator_children(
        docs, scanner="closing-bet", namespace=NAMESPACE, name=SCANJOB, keda=False
    )
    (deployment,) = [c for c in children if c["kind"] == "Deployment"]
    worker = cluster.service_pod(deployment).start()
    worker.wait_ready(timeout=90)
    assert worker.probe("livenessProbe")
    assert worker.env["KRSTOCK_WORKER_METRICS_PORT"] == str(worker.ports["metrics"])
    (run_job,) = [c for c in children if c["kind"] == "Job"]
    enqueue = cluster.service_pod(run_job)
    started = enqueue.run(timeout=60)
    assert started.returncode == 0, started.stdout + started.stderr
    assert json.loads(started.stdout)["status"] == 202

    deadline = time.monotonic() + 120
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        items = _get(f"{gateway}/api/v1/runs?scanjob={NAMESPACE}/{SCANJOB}")["data"]
        state = items[0] if items else {}
        if state.get("status") in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.5)
    assert state.get("status") == "SUCCEEDED", (state, worker.tail())
    assert state["kind"] in ("closing_bet", "closing-bet")
    assert state["counts"]["signals"] > 0, state  # the collected sample data was scanned
    for pod in (*pods.values(), worker):
        assert pod.alive(), pod.tail()
