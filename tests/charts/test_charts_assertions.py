"""Assertions on what the chart renders: hardened and resourced containers, probes, Services that
find exactly one workload, the migration Job, the StatefulSets, fully qualified addresses, and
the NetworkPolicy graph (who may reach PostgreSQL, Redis and the gateway) against the intended one.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from chart_helpers import (
    NAMESPACE,
    SCENARIOS,
    Render,
    by_kind,
    named,
    operator_children,
    pod_labels,
    pod_spec,
)
from netpol import Pod, allowed

FQDN = f"{NAMESPACE}.svc.cluster.local"
WORKLOADS = ("Deployment", "StatefulSet", "Job", "CronJob", "Pod")
SCENARIO_NAMES = sorted(SCENARIOS)


def _scenario(render: Render, name: str, *extra: str) -> list[dict[str, Any]]:
    return render("-f", str(SCENARIOS[name]), *extra)


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod = pod_spec(doc) or {}
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_every_container_is_hardened_and_resourced(render: Render, scenario: str) -> None:
    docs = _scenario(render, scenario, "--set", "schedules.maintenance.enabled=true")
    checked = 0
    for doc in (d for d in docs if d["kind"] in WORKLOADS):
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        pod = pod_spec(doc)
        assert pod is not None, where
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] > 0, where
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        # Only the operator talks to the API server: nobody else carries a token.
        assert pod["automountServiceAccountToken"] is (where == "Deployment/krstock-operator"), (
            where
        )
        writable = {m["mountPath"] for c in _containers(doc) for m in c.get("volumeMounts", [])}
        for container in _containers(doc):
            name = f"{where}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert "memory" in resources["limits"], name
            assert re.search(r":[\w.\-]+$", container["image"]), name  # a tag, never implicit
            assert not container["image"].endswith(":latest"), name
            checked += 1
        assert "/tmp" in writable or doc["kind"] == "StatefulSet", where
    assert checked >= 8


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_every_long_running_container_is_probed(render: Render, scenario: str) -> None:
    for doc in _scenario(render, scenario):
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in (pod_spec(doc) or {})["containers"]:
            where = f"{doc['metadata']['name']}/{container['name']}"
            assert "livenessProbe" in container and "readinessProbe" in container, where
    services = {"gateway", "scanner", "signals", "analyzer"}
    for doc in _scenario(render, scenario):
        component = doc["metadata"]["labels"].get("app.kubernetes.io/component")
        if doc["kind"] == "Deployment" and component in services:
            (container,) = (pod_spec(doc) or {})["containers"]
            assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
            assert container["ports"] == [
                {"name": "http", "containerPort": 8000, "protocol": "TCP"}
            ]
            assert container["command"][:3] == ["krstock", "serve", component]
            (init,) = (pod_spec(doc) or {})["initContainers"]
            assert "krstock db check" in init["command"][-1], doc["metadata"]["name"]


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_every_service_selects_exactly_one_workload_by_named_ports(
    render: Render, scenario: str
) -> None:
    docs = _scenario(render, scenario)
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    for service in by_kind(docs)["Service"]:
        selector = service["spec"]["selector"]
        matched = [w for w in workloads if selector.items() <= pod_labels(w).items()]
        assert len(matched) == 1, (
            service["metadata"]["name"],
            [m["metadata"]["name"] for m in matched],
        )
        ports = {
            p["name"]
            for c in (pod_spec(matched[0]) or {})["containers"]
            for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["name"] and isinstance(port["targetPort"], str), service["metadata"]["name"]
            assert port["targetPort"] in ports, (service["metadata"]["name"], port)
    labels = {d["metadata"]["labels"].get("app.kubernetes.io/component") for d in workloads}
    assert "worker" not in labels  # workers come from the operator


def test_migration_job(render: Render) -> None:
    docs = render()
    (job,) = by_kind(docs)["Job"]
    assert job["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "1"
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["krstock", "db", "upgrade", "--grant-app-role", "--json"]
    (owner,) = container["env"]
    assert owner["name"] == "KRSTOCK_MIGRATION_DATABASE_URL"
    assert owner["valueFrom"]["secretKeyRef"] == {
        "name": "krstock-db-owner",
        "key": "KRSTOCK_MIGRATION_DATABASE_URL",
    }
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "ttlSecondsAfterFinished" not in job["spec"]  # Argo CD would re-create it
    # The name follows the image and the spec: same render, same Job; a new image, a new Job.
    name = job["metadata"]["name"]
    assert re.fullmatch(r"krstock-migrate-[0-9a-f]{10}", name)
    (again,) = by_kind(render())["Job"]
    assert again["metadata"]["name"] == name
    (newer,) = by_kind(render("--set", "image.tag=0.2.0"))["Job"]
    assert newer["metadata"]["name"] != name
    (other,) = by_kind(render("--set", "migrations.backoffLimit=3"))["Job"]
    assert other["metadata"]["name"] != name


def test_statefulsets_claims_and_headless_services(render: Render) -> None:
    docs = render()
    services = {s["metadata"]["name"]: s for s in by_kind(docs)["Service"]}
    for name, port, image in (
        ("krstock-timescaledb", 5432, r"timescale/timescaledb:[\d.]+-pg(\d+)"),
        ("krstock-redis", 6379, r"redis:(\d+)\.[\d.]+-alpine"),
    ):
        sts = named(docs, "StatefulSet", name)
        assert sts["spec"]["replicas"] == 1
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["spec"]["resources"]["requests"]["storage"]
        (container,) = sts["spec"]["template"]["spec"]["containers"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert claim["metadata"]["name"] in mounts
        headless = services[sts["spec"]["serviceName"]]
        assert headless["spec"]["clusterIP"] == "None"
        assert headless["spec"]["selector"].items() <= pod_labels(sts).items()
        client = services[name]
        assert (
            client["spec"].get("clusterIP") != "None" and client["spec"]["ports"][0]["port"] == port
        )
        version = re.fullmatch(image, container["image"])
        assert version, container["image"]
        if name == "krstock-timescaledb":
            assert int(version.group(1)) >= 16  # PG 15.20's background-job failure
            probe = container["readinessProbe"]["exec"]["command"]
            assert probe[0] == "pg_isready"
            env = {e["name"]: e for e in container["env"]}
            assert (
                env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "krstock-db-owner"
            )
    redis_conf = named(docs, "ConfigMap", "krstock-redis")["data"]["redis.conf"]
    for line in ("appendonly yes", "appendfsync always", "maxmemory-policy noeviction"):
        assert line in redis_conf.splitlines()
    pg_conf = named(docs, "ConfigMap", "krstock-timescaledb")["data"]
    assert "shared_preload_libraries = 'timescaledb'" in pg_conf["postgresql.conf"]
    assert "trust" not in pg_conf["pg_hba.conf"]


def _urls(docs: list[dict[str, Any]]) -> list[str]:
    values: list[str] = []
    for doc in docs:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "krstock-config":
            values += doc["data"].values()
        if doc["kind"] == "Secret":
            values += doc.get("stringData", {}).values()
    operator = named(docs, "Deployment", "krstock-operator")
    values += [
        e["value"]
        for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
        if "value" in e
    ]
    return values


def test_every_in_cluster_address_is_fully_qualified(render: Render) -> None:
    docs = render()
    hosts = []
    for value in _urls(docs):
        for match in re.finditer(
            r"(?:[a-z+]+://)?(?:[^@/\s]*@)?(krstock-[a-z{}\-]+[^:/\s]*):\d+", value
        ):
            hosts.append(match.group(1))
    assert len(hosts) >= 8, hosts
    for host in hosts:
        assert host.endswith(f".{FQDN}"), host
    config = named(docs, "ConfigMap", "krstock-config")["data"]
    assert config["KRSTOCK_SERVICE_SCANNER_URLS"] == f"http://krstock-scanner.{FQDN}:8000"
    assert config["KRSTOCK_DISPATCH_MODE"] == "celery"
    env = named(docs, "Secret", "krstock-env")["stringData"]
    database = urlsplit(env["KRSTOCK_DATABASE_URL"])
    assert database.username == "krstock_app" and database.hostname == f"krstock-timescaledb.{FQDN}"
    assert env["KRSTOCK_REDIS_URL"] == f"redis://krstock-redis.{FQDN}:6379/0"
    owner = urlsplit(
        named(docs, "Secret", "krstock-db-owner")["stringData"]["KRSTOCK_MIGRATION_DATABASE_URL"]
    )
    assert owner.username == "postgres" and owner.path == "/krstock"


def test_external_database_and_redis(render: Render) -> None:
    docs = _scenario(render, "external")
    kinds = by_kind(docs)
    assert "StatefulSet" not in kinds and "Secret" not in kinds
    env = {
        e["name"]: e.get("value")
        for e in named(docs, "Deployment", "krstock-operator")["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
    }
    assert env["KRSTOCK_OPERATOR_REDIS_ADDRESS"] == "redis.example.internal:6380"
    assert env["KRSTOCK_OPERATOR_ENV_SECRET"] == "krstock-managed-env"
    gateway = named(docs, "Deployment", "krstock-gateway")["spec"]["template"]["spec"]
    assert {"secretRef": {"name": "krstock-managed-env"}} in gateway["containers"][0]["envFrom"]
    (job,) = kinds["Job"]
    key = job["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
    assert key["name"] == "krstock-managed-owner"
    # The chart's passwords compose rediss:// and sslmode URLs when it writes the Secrets itself.
    made = _scenario(
        render, "external", "--set", "secrets.existingSecret=",
        "--set", "secrets.appPassword=p@ss/word", "--set", "secrets.redisPassword=r:pw",
    )  # fmt: skip
    secret = named(made, "Secret", "krstock-env")["stringData"]
    assert secret["KRSTOCK_REDIS_URL"] == "rediss://:r%3Apw@redis.example.internal:6380/0"
    url = urlsplit(secret["KRSTOCK_DATABASE_URL"])
    assert url.password == "p%40ss%2Fword" and url.query == "sslmode=verify-full"
    assert url.hostname == "pg.example.internal"


def test_ha_gateway(render: Render) -> None:
    docs = _scenario(render, "ha-gateway")
    gateway = named(docs, "Deployment", "krstock-gateway")
    assert "replicas" not in gateway["spec"]
    hpa = named(docs, "HorizontalPodAutoscaler", "krstock-gateway")
    assert (
        hpa["spec"]["minReplicas"] == 3
        and hpa["spec"]["scaleTargetRef"]["name"] == "krstock-gateway"
    )
    pdb = named(docs, "PodDisruptionBudget", "krstock-gateway")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels(gateway).items()
    ingress = named(docs, "Ingress", "krstock-gateway")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "krstock-gateway", "port": {"name": "http"}}
    # One replica: no budget (it would block every node drain).
    assert "PodDisruptionBudget" not in by_kind(render())


def test_default_schedules(render: Render) -> None:
    scanjobs = {d["metadata"]["name"]: d["spec"] for d in by_kind(render())["ScanJob"]}
    pipeline, prices = scanjobs["krstock-daily-pipeline"], scanjobs["krstock-price-refresh"]
    assert pipeline["scanner"] == "daily-pipeline" and pipeline["schedule"] == "40 15 * * 1-5"
    assert prices["scanner"] == "collect" and prices["schedule"] == "*/5 9-15 * * 1-5"
    assert {pipeline["timeZone"], prices["timeZone"]} == {"Asia/Seoul"}
    # What the operator makes of them with the chart's settings: workers for the queues their
    # tasks use, and CronJobs whose pods skip closed days; the refresh collects today's prices.
    docs = render()
    for name, queues in (("krstock-daily-pipeline", 4), ("krstock-price-refresh", 1)):
        children = operator_children(docs, spec=scanjobs[name], namespace=NAMESPACE, name=name)
        assert len([c for c in children if c["kind"] == "Deployment"]) == queues, name
        (cron,) = [c for c in children if c["kind"] == "CronJob"]
        command = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
            "command"
        ]
        assert "--skip-closed-days" in command and "Asia/Seoul" in command, command
        assert ("today" in command) is (name == "krstock-price-refresh"), command
    off = render(
        "--set",
        "schedules.dailyPipeline.enabled=false",
        "--set",
        "schedules.priceRefresh.enabled=false",
    )
    assert "ScanJob" not in by_kind(off)
    # No celery-beat singleton anywhere.
    for doc in render():
        for container in _containers(doc):
            assert "--beat" not in [*container.get("command", []), *container.get("args", [])]
    maintenance = named(
        render("--set", "schedules.maintenance.enabled=true"), "CronJob", "krstock-maintenance"
    )
    spec = maintenance["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"] == "Asia/Seoul"
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "krstock", "db", "maintain",
    ]  # fmt: skip


# ------------------------------------------------------------------ the NetworkPolicy graph


def _pods(docs: list[dict[str, Any]]) -> list[Pod]:
    pods = []
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        ports = {
            p["name"]: p["containerPort"]
            for c in (pod_spec(doc) or {})["containers"]
            for p in c.get("ports", [])
        }
        pods.append(
            Pod(f"{doc['kind']}/{doc['metadata']['name']}", NAMESPACE, pod_labels(doc), ports)
        )
    for namespace in (NAMESPACE, "markets"):
        for child in operator_children(
            docs, scanner="vcp", schedule="10 16 * * 1-5", namespace=namespace
        ):
            if child["kind"] in ("Deployment", "CronJob"):
                kind = "worker" if child["kind"] == "Deployment" else "enqueue"
                ports = {
                    p["name"]: p["containerPort"]
                    for c in (pod_spec(child) or {})["containers"]
                    for p in c.get("ports", [])
                }
                pods.append(Pod(f"{kind}@{namespace}", namespace, pod_labels(child), ports))
    pods += [
        Pod("keda-operator", "keda", {"app": "keda-operator"}),
        Pod("keda-other", "keda", {"app": "keda-metrics-apiserver"}),
        Pod("ingress-controller", "ingress-nginx", {"app": "ingress-nginx"}),
        Pod("prometheus", "monitoring", {"app": "prometheus"}),
        Pod("stranger@krstock", NAMESPACE, {"app": "other"}),
        Pod("stranger@markets", "markets", {"app": "other"}),
        # A look-alike: the right component label but not part of krstock.
        Pod("impostor@markets", "markets", {"app.kubernetes.io/component": "worker"}),
    ]
    return pods


def _who_reaches(docs: list[dict[str, Any]], target_name: str, port: int) -> set[str]:
    policies = by_kind(docs).get("NetworkPolicy", [])
    pods = _pods(docs)
    (target,) = [p for p in pods if p.name == target_name]
    return {p.name for p in pods if p is not target and allowed(policies, p, target, port)}


APPS = {"Deployment/krstock-gateway", "Deployment/krstock-scanner", "Deployment/krstock-signals",
        "Deployment/krstock-analyzer"}  # fmt: skip
WORKERS = {f"worker@{NAMESPACE}", "worker@markets"}


def test_networkpolicy_graph_is_the_intended_one(render: Render) -> None:
    docs = render()
    (job,) = by_kind(docs)["Job"]
    migrate = f"Job/{job['metadata']['name']}"
    assert _who_reaches(docs, "StatefulSet/krstock-timescaledb", 5432) == (
        APPS | WORKERS | {migrate, "Pod/krstock-test", "CronJob/krstock-maintenance"}
    )
    assert _who_reaches(docs, "StatefulSet/krstock-redis", 6379) == APPS | WORKERS | {
        "keda-operator"
    }
    assert _who_reaches(docs, "Deployment/krstock-gateway", 8000) == {
        "ingress-controller", "prometheus", "Deployment/krstock-operator", "Pod/krstock-test",
        f"enqueue@{NAMESPACE}", "enqueue@markets",
    }  # fmt: skip
    assert _who_reaches(docs, "Deployment/krstock-scanner", 8000) == {
        "Deployment/krstock-gateway", "prometheus",
    }  # fmt: skip
    # Prometheus reaches worker metrics; nothing else reaches a worker.
    assert _who_reaches(docs, f"worker@{NAMESPACE}", 9808) == {"prometheus"}
    # Default deny: a stranger in the namespace reaches nothing and nobody reaches it.
    policies = by_kind(docs)["NetworkPolicy"]
    pods = {p.name: p for p in _pods(docs)}
    stranger = pods["stranger@krstock"]
    assert not any(allowed(policies, stranger, p, 8000) for p in pods.values() if p is not stranger)
    assert not any(allowed(policies, p, stranger, 80) for p in pods.values() if p is not stranger)
    # DNS for everyone in the namespace.
    dns = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"})
    for name in (*APPS, f"worker@{NAMESPACE}", migrate):
        assert allowed(policies, pods[name], dns, 53), name
    # Workers and services reach the internet on 443 (market data, news, Gemini), never private
    # ranges; the databases, the migration and enqueue pods do not reach it at all.
    internet = Pod("gemini", "internet", {}, ip="142.250.1.1")
    private = Pod("metadata", "internet", {}, ip="10.0.0.5")
    for name in (*APPS, f"worker@{NAMESPACE}"):
        assert allowed(policies, pods[name], internet, 443), name
        assert not allowed(policies, pods[name], private, 443), name
    for name in ("StatefulSet/krstock-timescaledb", "StatefulSet/krstock-redis", migrate,
                 f"enqueue@{NAMESPACE}", "Pod/krstock-test"):  # fmt: skip
        assert not allowed(policies, pods[name], internet, 443), name
    api_server = Pod("apiserver", "default", {}, ip="172.18.0.2")
    assert allowed(policies, pods["Deployment/krstock-operator"], api_server, 6443)


def test_networkpolicies_off(render: Render) -> None:
    docs = _scenario(render, "no-networkpolicy")
    assert "NetworkPolicy" not in by_kind(docs)
    everyone = {p.name for p in _pods(docs)} - {"StatefulSet/krstock-timescaledb"}
    assert _who_reaches(docs, "StatefulSet/krstock-timescaledb", 5432) == everyone
