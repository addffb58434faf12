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


@pytest.mark.parametrize("local", ["", "1"])
def test_tiltfile_builds_the_operator_and_installs_the_chart(local: str) -> None:
    calls = evaluate_tiltfile({"KRSTOCK_OPERATOR_LOCAL": local})
    names = [name for name, _, _ in calls]
    (build,) = [c for c in calls if c[0] == "docker_build"]
    image, context = build[1][:2]
    assert image == "ghcr.io/krstock/krstock-operator"
    assert _tilt_path(context) == ROOT
    assert _tilt_path(build[2]["dockerfile"]).is_file()
    (chart_call,) = [c for c in calls if c[0] == "helm"]
    assert _tilt_path(chart_call[1][0]) == ROOT / "charts" / "krstock"
    enabled = "operator.enabled=" + ("false" if local else "true")
    assert enabled in chart_call[2]["set"]
    assert ("k8s_resource" in names) is (not local)
    local_op = next(c for c in calls if c[0] == "local_resource" and c[1][0] == "operator-local")
    assert "kopf run --dev" in local_op[2]["serve_cmd"]
    assert (ROOT / local_op[2]["serve_cmd"].split()[-1]).is_file()
    assert local_op[2]["auto_init"] is bool(local)
    yaml_calls = [c for c in calls if c[0] == "k8s_yaml" and isinstance(c[1][0], list)]
    for path in yaml_calls[0][1][0]:
        assert _tilt_path(path).is_file(), path


def test_skaffold_config() -> None:
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    assert config["apiVersion"] == "skaffold/v4beta14" and config["kind"] == "Config"
    (artifact,) = config["build"]["artifacts"]
    assert (ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
    (release,) = config["manifests"]["helm"]["releases"]
    assert (ROOT / release["chartPath"] / "Chart.yaml").is_file()
    image_key = artifact["image"].replace("/", "_").replace(".", "_").replace("-", "_")
    assert image_key in release["setValueTemplates"]["operator.image.repository"]
    for path in config["profiles"][0]["manifests"]["rawYaml"]:
        assert (ROOT / path).is_file()


def test_argocd_application_points_at_the_chart() -> None:
    app = yaml.safe_load((ROOT / "deploy" / "argocd" / "krstock.yaml").read_text())
    assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
    source = app["spec"]["source"]
    assert (ROOT / source["path"] / "Chart.yaml").is_file()
    for values in source["helm"]["valueFiles"]:
        assert (ROOT / source["path"] / values).is_file()
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]


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
