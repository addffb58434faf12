"""The chart's operator part: lints strictly, renders valid Kubernetes objects, least privilege."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from krstock_operator import crdgen, rbac

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "krstock"
Helm = Callable[..., subprocess.CompletedProcess[str]]
Render = Callable[..., list[dict[str, Any]]]


def _by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        out.setdefault(doc["kind"], []).append(doc)
    return out


def test_lint_strict(helm: Helm) -> None:
    result = helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("version", ["1.29.0", "1.30.0", "1.31.0"])
def test_rendered_objects_validate(render: Render, version: str) -> None:
    docs = render(kube_version=version)
    kinds = _by_kind(docs)
    assert set(kinds) == {
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "krstock", doc["metadata"]["name"]


def test_chart_crds_are_the_generated_ones(render: Render) -> None:
    crds = {d["metadata"]["name"]: d for d in _by_kind(render())["CustomResourceDefinition"]}
    assert crds == {
        "scanjobs.krstock.io": crdgen.scanjob_crd(),
        "signalpolicies.krstock.io": crdgen.signalpolicy_crd(),
    }
    for name in ("scanjob.yaml", "signalpolicy.yaml"):
        assert (CHART / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes()


def test_clusterrole_is_exactly_the_operator_rules(render: Render) -> None:
    (role,) = _by_kind(render())["ClusterRole"]
    assert rbac.granted(role["rules"]) == rbac.granted(rbac.RULES)
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert not verbs & {"*", "get", "update", "deletecollection", "escalate", "bind"}
    (binding,) = _by_kind(render())["ClusterRoleBinding"]
    (account,) = _by_kind(render())["ServiceAccount"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "krstock"}
    ]


def test_operator_deployment(render: Render) -> None:
    (deployment,) = _by_kind(render())["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "krstock-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "krstock_operator"]
    assert container["image"] == "ghcr.io/krstock/krstock-operator:0.1.0"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KRSTOCK_OPERATOR_IMAGE"] == "ghcr.io/krstock/krstock:0.1.0"
    assert env["KRSTOCK_OPERATOR_API_URL"] == "http://krstock-gateway:8000"
    assert env["KRSTOCK_OPERATOR_REDIS_ADDRESS"] == "krstock-redis:6379"
    assert env["KRSTOCK_OPERATOR_LIVENESS_ENDPOINT"] == "http://0.0.0.0:8080/healthz"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 9090, "health": 8080}
    # Every KRSTOCK_OPERATOR_* variable the chart sets is a real operator setting.
    from krstock_operator.config import OperatorSettings

    known = {f"KRSTOCK_OPERATOR_{name.upper()}" for name in OperatorSettings.model_fields}
    assert {k for k in env if k.startswith("KRSTOCK_OPERATOR_")} <= known


def test_values_override_and_disable(render: Render) -> None:
    docs = render(
        "--set", "platform.apiUrl=https://api.example.org",
        "--set", "platform.apiKeySecret=krstock-api",
        "--set", "operator.resyncSeconds=30",
    )  # fmt: skip
    (deployment,) = _by_kind(docs)["Deployment"]
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KRSTOCK_OPERATOR_API_URL"]["value"] == "https://api.example.org"
    assert env["KRSTOCK_OPERATOR_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "krstock-api"
    assert env["KRSTOCK_OPERATOR_RESYNC_SECONDS"]["value"] == "30"
    disabled = _by_kind(render("--set", "operator.enabled=false"))
    assert set(disabled) == {"CustomResourceDefinition"}


@pytest.mark.parametrize(
    "bad",
    [
        "operator.resyncSeconds=0",
        "operator.image.pullPolicy=Sometimes",
        "platform.redisAddress=redis://x",
        "operator.replicas=2",
    ],
)
def test_values_schema_rejects_bad_values(helm: Helm, bad: str) -> None:
    result = helm("template", "krstock", str(CHART), "--set", bad, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr


def test_values_yaml_matches_its_schema() -> None:
    import json

    import jsonschema

    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((CHART / "values.yaml").read_text()))
