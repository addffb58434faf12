"""The dev-loop files, checked structurally (neither Tilt nor Skaffold runs here).

The Tiltfile is evaluated as Starlark with recording stand-ins for Tilt's builtins; skaffold.yaml,
the Argo CD Application and the operator Dockerfile are checked against the repository they
point into.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TILT_BUILTINS = (
    "allow_k8s_contexts",
    "docker_build",
    "k8s_yaml",
    "helm",
    "k8s_resource",
    "local_resource",
    "_os_getenv",
)


def evaluate_tiltfile(env: dict[str, str]) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    starlark = pytest.importorskip("starlark")
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def recorder(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, args, kwargs))
            if name == "_os_getenv":
                return env.get(args[0], args[1] if len(args) > 1 else "")
            return f"<{name}>"

        return call

    module = starlark.Module()
    for name in TILT_BUILTINS:
        module.add_callable(name, recorder(name))
    module["TRIGGER_MODE_MANUAL"] = "manual"
    globals_ = starlark.Globals.extended_by([starlark.LibraryExtension.StructType])
    prelude = "os = struct(getenv = _os_getenv)\n"
    source = (ROOT / "tilt" / "Tiltfile").read_text(encoding="utf-8")
    dialect = starlark.Dialect.extended()  # Tilt allows top-level `if`
    dialect.enable_top_level_stmt = True
    starlark.eval(module, starlark.parse("Tiltfile", prelude + source, dialect), globals_)
    return [c for c in calls if c[0] != "_os_getenv"]


def _tilt_path(path: str) -> Path:
    return (ROOT / "tilt" / path).resolve()


IMAGES = {
    "ghcr.io/krstock/krstock": "Dockerfile",
    "ghcr.io/krstock/krstock-operator": "operator/Dockerfile",
}


@pytest.mark.parametrize("local", ["", "1"])
def test_tiltfile_builds_both_images_and_installs_the_chart(local: str) -> None:
    calls = evaluate_tiltfile({"KRSTOCK_OPERATOR_LOCAL": local})
    names = [name for name, _, _ in calls]
    builds = {c[1][0]: c for c in calls if c[0] == "docker_build"}
    assert set(builds) == set(IMAGES)
    for image, dockerfile in IMAGES.items():
        _, args, kwargs = builds[image]
        assert _tilt_path(args[1]) == ROOT
        assert _tilt_path(kwargs["dockerfile"]) == ROOT / dockerfile
        for path in kwargs["only"]:  # everything the Dockerfile copies is in the build context
            assert _tilt_path(path).exists(), path
    (chart_call,) = [c for c in calls if c[0] == "helm"]
    assert _tilt_path(chart_call[1][0]) == ROOT / "charts" / "krstock"
    for values in chart_call[2]["values"]:
        assert _tilt_path(values).is_file()
    enabled = "operator.enabled=" + ("false" if local else "true")
    assert enabled in chart_call[2]["set"]
    resources = [c[1][0] for c in calls if c[0] == "k8s_resource"]
    assert "krstock-gateway" in resources and "krstock-timescaledb" in resources
    assert ("krstock-operator" in resources) is (not local)
    assert "local_resource" in names
    local_op = next(c for c in calls if c[0] == "local_resource" and c[1][0] == "operator-local")
    assert "kopf run --dev" in local_op[2]["serve_cmd"]
    assert (ROOT / local_op[2]["serve_cmd"].split()[-1]).is_file()
    assert local_op[2]["auto_init"] is bool(local)
    yaml_calls = [c for c in calls if c[0] == "k8s_yaml" and isinstance(c[1][0], list)]
    for path in yaml_calls[0][1][0]:
        assert _tilt_path(path).is_file(), path


def test_tilt_resources_are_rendered_workloads(render: Any) -> None:
    """Every k8s_resource names a workload the chart renders with the dev values."""
    calls = evaluate_tiltfile({"KRSTOCK_OPERATOR_LOCAL": ""})
    workloads = {
        d["metadata"]["name"]
        for d in render("-f", str(ROOT / "tilt" / "dev-values.yaml"))
        if d["kind"] in ("Deployment", "StatefulSet")
    }
    for _, args, _ in (c for c in calls if c[0] == "k8s_resource"):
        assert args[0] in workloads, args[0]


def test_skaffold_config() -> None:
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    assert config["apiVersion"] == "skaffold/v4beta14" and config["kind"] == "Config"
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    assert set(artifacts) == set(IMAGES)
    (release,) = config["manifests"]["helm"]["releases"]
    assert (ROOT / release["chartPath"] / "Chart.yaml").is_file()
    for path in release["valuesFiles"]:
        assert (ROOT / path).is_file()
    templates = release["setValueTemplates"]
    for image, dockerfile in IMAGES.items():
        artifact = artifacts[image]
        assert (ROOT / artifact["context"] / artifact["docker"]["dockerfile"]) == ROOT / dockerfile
        key = image.replace("/", "_").replace(".", "_").replace("-", "_")
        prefix = "operator.image" if image.endswith("-operator") else "image"
        assert templates[f"{prefix}.repository"] == "{{.IMAGE_REPO_" + key + "}}"
        assert templates[f"{prefix}.tag"] == "{{.IMAGE_TAG_" + key + "}}"
    for path in config["profiles"][0]["manifests"]["rawYaml"]:
        assert (ROOT / path).is_file()


def test_argocd_application_installs_the_whole_chart_with_production_values(render: Any) -> None:
    app = yaml.safe_load((ROOT / "deploy" / "argocd" / "krstock.yaml").read_text())
    assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
    chart, values_ref = app["spec"]["sources"]
    assert (ROOT / chart["path"] / "Chart.yaml").is_file()
    assert values_ref["ref"] == "values" and values_ref["repoURL"] == chart["repoURL"]
    files = [f.replace("$values/", "") for f in chart["helm"]["valueFiles"]]
    for path in files:
        assert (ROOT / path).is_file(), path
    options = app["spec"]["syncPolicy"]["syncOptions"]
    assert "ServerSideApply=true" in options and "SkipDryRunOnMissingResource=true" in options
    # The ignoreDifferences on worker replicas did nothing (Argo CD never tracks operator-made
    # Deployments); nothing the chart renders has replicas an autoscaler owns.
    assert "ignoreDifferences" not in app["spec"]
    docs = render("-f", str(ROOT / files[0]))
    gateway = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "krstock-gateway"
    )
    assert "replicas" not in gateway["spec"]  # the HPA owns it
    waves = {
        (d["kind"], d["metadata"]["name"]): d["metadata"]
        .get("annotations", {})
        .get("argocd.argoproj.io/sync-wave")
        for d in docs
    }
    assert waves[("StatefulSet", "krstock-timescaledb")] == "0"
    assert waves[("StatefulSet", "krstock-redis")] == "0"
    (job,) = [k for k in waves if k[0] == "Job"]
    assert waves[job] == "1"
    for name in ("gateway", "scanner", "signals", "analyzer", "operator"):
        assert waves[("Deployment", f"krstock-{name}")] == "2", name
    assert {waves[k] for k in waves if k[0] == "ScanJob"} == {"3"}
    # Production names its own Secrets: the chart creates none.
    assert not [d for d in docs if d["kind"] == "Secret"]


def test_operator_dockerfile_copies_only_what_the_operator_imports() -> None:
    text = (ROOT / "operator" / "Dockerfile").read_text()
    copies = [
        source
        for line in text.splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    ]
    assert copies == [
        "services/krstock/__init__.py",
        "services/krstock/domain/",
        "services/krstock/app/__init__.py",
        "services/krstock/app/kinds.py",
        "operator/krstock_operator/",
    ]
    for path in copies:
        assert (ROOT / path).exists()
    assert "USER 10001" in text
    assert 'CMD ["python", "-m", "krstock_operator"]' in text
