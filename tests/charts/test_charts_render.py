"""The chart renders, offline, for every values scenario of charts/krstock/ci/, under Helm 3.17 and
Helm 4.1: strict lint, valid Kubernetes objects (1.29-1.31), custom resources valid against their
CRDs, and the same bytes every time (twice, and as an upgrade) — what Argo CD needs to stay in sync.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chart_helpers import (
    CHART,
    DEFAULTS,
    HELMS,
    ROOT,
    SCENARIOS,
    Helm,
    by_kind,
    parse,
    template_args,
)

from krstock_operator import crdgen

SHARED_CRDS = ROOT.parent / "shared" / "schemas" / "crds"
KUBE_VERSIONS = ("1.29.0", "1.30.0", "1.31.0")


def _crd_validator() -> Any:
    """tests/operator/crd_validator.py (defaults, structural schema and CEL rules), by path."""
    name = "krstock_tests_crd_validator"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, ROOT / "tests" / "operator" / "crd_validator.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _crds() -> dict[str, dict[str, Any]]:
    """Custom resource kind -> its CRD: ours (generated) and the shared third-party ones."""
    crds = [crdgen.scanjob_crd(), crdgen.signalpolicy_crd()]
    if SHARED_CRDS.is_dir():
        crds += [yaml.safe_load(p.read_text()) for p in sorted(SHARED_CRDS.glob("*.yaml"))]
    return {crd["spec"]["names"]["kind"]: crd for crd in crds}


def _scenario_args(name: str) -> tuple[str, ...]:
    return ("-f", str(SCENARIOS[name]))


@pytest.mark.parametrize("helm_name", HELMS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_lint_strict(helms: dict[str, Helm], helm_name: str, scenario: str) -> None:
    result = helms[helm_name]("lint", "--strict", str(CHART), *_scenario_args(scenario))
    assert "0 chart(s) failed" in result.stdout, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_helm4_renders_what_helm3_renders(helms: dict[str, Helm], scenario: str) -> None:
    args = template_args(*_scenario_args(scenario))
    assert helms["helm4"](*args).stdout == helms["helm"](*args).stdout


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_renders_are_byte_identical_twice_and_as_upgrade(
    helms: dict[str, Helm], scenario: str
) -> None:
    """No random value, no lookup, no timestamp: an Argo CD diff would never settle otherwise."""
    helm = helms["helm"]
    args = template_args(*_scenario_args(scenario))
    first = helm(*args).stdout
    assert helm(*args).stdout == first
    assert helm(*args, "--is-upgrade").stdout == first


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_object_validates(helms: dict[str, Helm], scenario: str, version: str) -> None:
    docs = parse(
        helms["helm"](*template_args(*_scenario_args(scenario), kube_version=version)).stdout
    )
    crds = _crds()
    validator = _crd_validator()
    custom = 0
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in crds:
            custom += 1
            assert validator.validate(crds[doc["kind"]], doc) == [], where
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        assert doc["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "krstock", (
            where
        )
    kinds = by_kind(docs)
    # templates/monitoring/ belongs to the monitoring work (its own tests); once it exists, the
    # monitoring scenario renders Prometheus Operator objects and they are validated above.
    if scenario == "monitoring" and any((CHART / "templates" / "monitoring").glob("*.yaml")):
        assert {"ServiceMonitor", "PodMonitor", "PrometheusRule"} & set(kinds), sorted(kinds)
    assert custom >= (2 if "ScanJob" in kinds else 0)


def test_the_defaults_render_the_whole_platform(helms: dict[str, Helm]) -> None:
    docs = parse(helms["helm"](*template_args("-f", str(DEFAULTS))).stdout)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for expected in [
        ("StatefulSet", "krstock-timescaledb"),
        ("StatefulSet", "krstock-redis"),
        ("Deployment", "krstock-gateway"),
        ("Deployment", "krstock-scanner"),
        ("Deployment", "krstock-signals"),
        ("Deployment", "krstock-analyzer"),
        ("Deployment", "krstock-operator"),
        ("ScanJob", "krstock-daily-pipeline"),
        ("ScanJob", "krstock-price-refresh"),
        ("NetworkPolicy", "krstock-default-deny"),
        ("Pod", "krstock-test"),
        ("CustomResourceDefinition", "scanjobs.krstock.io"),
    ]:
        assert expected in names, expected
    (job,) = by_kind(docs)["Job"]
    assert job["metadata"]["name"].startswith("krstock-migrate-")


def test_chart_crds_are_the_generated_ones(helms: dict[str, Helm]) -> None:
    docs = parse(helms["helm"](*template_args("-f", str(DEFAULTS))).stdout)
    crds = {d["metadata"]["name"]: d for d in by_kind(docs)["CustomResourceDefinition"]}
    assert crds == {
        "scanjobs.krstock.io": crdgen.scanjob_crd(),
        "signalpolicies.krstock.io": crdgen.signalpolicy_crd(),
    }


def test_passwords_are_never_invented(helms: dict[str, Helm]) -> None:
    """Without passwords or existing Secrets the chart refuses, naming what to set."""
    result = helms["helm"]("template", "krstock", str(CHART), check=False)
    assert result.returncode != 0
    assert "secrets.appPassword is required" in result.stderr
    templates = "".join(p.read_text() for p in (CHART / "templates").rglob("*") if p.is_file())
    for forbidden in ("randAlphaNum", "randAlpha", "randNumeric", "randAscii", "lookup", "now"):
        assert f"{forbidden} " not in templates and f"({forbidden}" not in templates, forbidden


@pytest.mark.parametrize(
    "bad",
    [
        "operator.resyncSeconds=0",
        "operator.image.pullPolicy=Sometimes",
        "platform.redisAddress=redis://x",
        "operator.replicas=2",
        "gateway.replicass=2",
        "timescaledb.storage.sizee=1Gi",
        "redis.image.tag=",
        "networkPolicy.keda.name=x",
        "schedules.dailyPipeline.schedule=daily",
        "secrets.env.lower_case=x",
        "monitoring.serviceMonitor.intervall=1m",
        "unknownTopLevel=1",
    ],
)
def test_values_schema_rejects_unknown_and_bad_values(helm: Helm, bad: str) -> None:
    result = helm("template", "krstock", str(CHART), "-f", str(DEFAULTS), "--set", bad, check=False)
    assert result.returncode != 0, bad
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr


def _objects(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if schema.get("type") == "object" and "properties" in schema:
        out.append((path or "<root>", schema))
    for key, sub in schema.get("properties", {}).items():
        out += _objects(sub, f"{path}.{key}")
    for key, sub in schema.get("definitions", {}).items():
        out += _objects(sub, f"#{key}")
    return out


def test_values_schema_closes_every_object() -> None:
    import json

    import jsonschema

    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    for path, node in _objects(schema):
        assert node.get("additionalProperties") is False, path
    validator = jsonschema.Draft7Validator(schema)
    validator.validate(yaml.safe_load((CHART / "values.yaml").read_text()))
    for scenario in SCENARIOS.values():
        merged = yaml.safe_load((CHART / "values.yaml").read_text())
        _merge(merged, yaml.safe_load(scenario.read_text()))
        validator.validate(merged)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
