"""The chart's operator part: least privilege, and wired to the platform the chart installs."""

from __future__ import annotations

from chart_helpers import Render, by_kind, named

from krstock_operator import rbac
from krstock_operator.config import OperatorSettings

FQDN = "krstock.svc.cluster.local"


def test_clusterrole_is_exactly_the_operator_rules(render: Render) -> None:
    docs = by_kind(render())
    (role,) = docs["ClusterRole"]
    assert rbac.granted(role["rules"]) == rbac.granted(rbac.RULES)
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert not verbs & {"*", "get", "update", "deletecollection", "escalate", "bind"}
    (binding,) = docs["ClusterRoleBinding"]
    account = named(render(), "ServiceAccount", "krstock-operator")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "krstock"}
    ]


def _operator_env(docs: list[dict]) -> dict[str, dict]:
    deployment = named(docs, "Deployment", "krstock-operator")
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_operator_deployment(render: Render) -> None:
    deployment = named(render(), "Deployment", "krstock-operator")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "krstock-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "krstock_operator"]
    assert container["image"] == "ghcr.io/krstock/krstock-operator:0.1.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 9090, "health": 8080}
    # Every KRSTOCK_OPERATOR_* variable the chart sets is a real operator setting.
    known = {f"KRSTOCK_OPERATOR_{name.upper()}" for name in OperatorSettings.model_fields}
    assert {k for k in _operator_env(render()) if k.startswith("KRSTOCK_OPERATOR_")} <= known


def test_operator_is_wired_to_the_chart_with_fully_qualified_addresses(render: Render) -> None:
    docs = render()
    env = _operator_env(docs)
    value = {k: e.get("value") for k, e in env.items()}
    assert value["KRSTOCK_OPERATOR_IMAGE"] == "ghcr.io/krstock/krstock:0.1.0"
    # Enqueue pods run in the ScanJob's namespace and KEDA in its own: no short names.
    assert value["KRSTOCK_OPERATOR_API_URL"] == f"http://krstock-gateway.{FQDN}:8000"
    assert value["KRSTOCK_OPERATOR_REDIS_ADDRESS"] == f"krstock-redis.{FQDN}:6379"
    assert value["KRSTOCK_OPERATOR_REDIS_DATABASE"] == "0"
    # The workers load exactly the Secret and ConfigMap the chart's services load.
    assert value["KRSTOCK_OPERATOR_ENV_SECRET"] == "krstock-env"
    assert value["KRSTOCK_OPERATOR_ENV_CONFIGMAP"] == "krstock-config"
    named(docs, "Secret", "krstock-env")
    named(docs, "ConfigMap", "krstock-config")
    gateway = named(docs, "Deployment", "krstock-gateway")["spec"]["template"]["spec"]
    assert [next(iter(ref.values()))["name"] for ref in gateway["containers"][0]["envFrom"]] == [
        "krstock-config",
        "krstock-env",
    ]
    key = env["KRSTOCK_OPERATOR_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert key == {"name": "krstock-env", "key": "KRSTOCK_API_KEY", "optional": True}
    assert value["KRSTOCK_OPERATOR_LIVENESS_ENDPOINT"] == "http://0.0.0.0:8080/healthz"


def test_external_redis_and_other_cluster_domain(render: Render) -> None:
    docs = render(
        "--set", "redis.enabled=false", "--set", "redis.host=redis.example.internal",
        "--set", "clusterDomain=corp.local", "--set", "redis.database=3",
    )  # fmt: skip
    value = {k: e.get("value") for k, e in _operator_env(docs).items()}
    assert value["KRSTOCK_OPERATOR_REDIS_ADDRESS"] == "redis.example.internal:6379"
    assert value["KRSTOCK_OPERATOR_REDIS_DATABASE"] == "3"
    assert value["KRSTOCK_OPERATOR_API_URL"] == "http://krstock-gateway.krstock.svc.corp.local:8000"


def test_values_override_and_disable(render: Render) -> None:
    docs = render(
        "--set", "platform.apiUrl=https://api.example.org",
        "--set", "platform.apiKeySecret=krstock-api",
        "--set", "operator.resyncSeconds=30",
    )  # fmt: skip
    env = _operator_env(docs)
    assert env["KRSTOCK_OPERATOR_API_URL"]["value"] == "https://api.example.org"
    assert env["KRSTOCK_OPERATOR_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "krstock-api",
        "key": "api-key",
    }
    assert env["KRSTOCK_OPERATOR_RESYNC_SECONDS"]["value"] == "30"
    disabled = by_kind(render("--set", "operator.enabled=false"))
    assert "ClusterRole" not in disabled  # the ScanJobs stay: an operator may run elsewhere
    assert "krstock-operator" not in {d["metadata"]["name"] for d in disabled["Deployment"]}
