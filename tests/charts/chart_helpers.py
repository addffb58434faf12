"""What the chart tests share: paths, the values scenarios, rendering arguments, lookups in a
render, and the children the operator would build from the chart's settings."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "krstock"
# The values scenarios of charts/krstock/ci/ (the chart-testing convention), by short name.
SCENARIOS = {
    path.name.removesuffix("-values.yaml"): path for path in sorted((CHART / "ci").glob("*.yaml"))
}
DEFAULTS = SCENARIOS["defaults"]
# The monitoring templates render only where Prometheus Operator's API exists.
API_VERSIONS = ("--api-versions", "monitoring.coreos.com/v1")
HELMS = ("helm", "helm4")  # Helm 3.17 (Argo CD < 3.5) and Helm 4.1 (Argo CD >= 3.5)
NAMESPACE = "krstock"

Helm = Callable[..., subprocess.CompletedProcess[str]]
Render = Callable[..., list[dict[str, Any]]]


def template_args(*extra: str, kube_version: str = "1.31.0") -> list[str]:
    return [
        "template", "krstock", str(CHART), "--namespace", NAMESPACE, "--include-crds",
        "--kube-version", kube_version, *API_VERSIONS, *extra,
    ]  # fmt: skip


def parse(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        out.setdefault(doc["kind"], []).append(doc)
    return out


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template of a workload (or the Pod itself); None for other kinds."""
    if doc["kind"] == "Pod":
        return doc["spec"]
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if doc["kind"] in ("Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet"):
        return spec["template"]["spec"]
    return None


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    if doc["kind"] == "Pod":
        return doc["metadata"]["labels"]
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["metadata"]["labels"]


def operator_settings(docs: list[dict[str, Any]]) -> Any:
    """The operator's settings as the chart's operator Deployment sets them (plain values)."""
    from krstock_operator.config import OperatorSettings

    deployment = named(docs, "Deployment", "krstock-operator")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    values = {
        e["name"].removeprefix("KRSTOCK_OPERATOR_").lower(): e["value"]
        for e in env
        if e["name"].startswith("KRSTOCK_OPERATOR_") and "value" in e
    }
    return OperatorSettings(**values)


def operator_children(
    docs: list[dict[str, Any]],
    *,
    scanner: str = "",
    schedule: str | None = None,
    spec: dict[str, Any] | None = None,
    namespace: str = "markets",
    name: str = "daily",
    keda: bool = True,
) -> list[dict[str, Any]]:
    """What the operator builds for a ScanJob (a scanner and schedule, or a whole spec) with the
    chart's settings."""
    from krstock_operator.manifests import ClusterContext, Owner, desired_children
    from krstock_operator.spec import parse_spec

    raw: dict[str, Any] = dict(spec) if spec else {"scanner": scanner}
    if schedule:
        raw["schedule"] = schedule
    ctx = ClusterContext(settings=operator_settings(docs), keda_available=keda)
    return desired_children(Owner(namespace, name, "uid-1"), parse_spec(raw), ctx)
