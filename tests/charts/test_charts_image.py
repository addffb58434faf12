"""The platform image, checked statically (no container engine here): the Dockerfile's structure
and build context, and that every command the chart (and the operator's workers) run in it is a
real command of this package with options it accepts."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from chart_helpers import ROOT, SCENARIOS, Render

DOCKERFILE = ROOT / "Dockerfile"
SECRET_WORDS = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE)", re.IGNORECASE)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(path: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions(path):
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def test_dockerfile_is_multi_stage_with_a_pinned_base() -> None:
    steps = instructions(DOCKERFILE)
    args = dict(
        a.split("=", 1)
        for kind, a in steps
        if kind == "ARG" and "=" in a and not _in_stage(steps, a)
    )
    base = args["PYTHON_IMAGE"]
    # A full version tag (not latest, not a floating 3.11): rebuilds get the same interpreter.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", base), base
    froms = [a for kind, a in steps if kind == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]


def _in_stage(steps: list[tuple[str, str]], arg: str) -> bool:
    """Whether this ARG comes after the first FROM (a stage ARG, not a global one)."""
    first_from = next(i for i, (kind, _) in enumerate(steps) if kind == "FROM")
    return steps.index(("ARG", arg)) > first_from


def test_runtime_stage_installs_built_wheels_runs_as_non_root_krstock() -> None:
    build, runtime = stages(DOCKERFILE)
    assert any(kind == "RUN" and "pip wheel" in a for kind, a in build)
    runs = [a for kind, a in runtime if kind == "RUN"]
    assert any("--mount=type=bind,from=build" in a and "--no-index" in a for a in runs)
    assert not any(kind == "COPY" for kind, _ in runtime), "no build context in the runtime image"
    users = [a for kind, a in runtime if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert int(users[-1].split(":")[0]) >= 10000
    assert ("ENTRYPOINT", '["krstock"]') in runtime
    labels = " ".join(a for kind, a in runtime if kind == "LABEL")
    for key in ("title", "description", "source", "licenses", "version"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    # Read-only root filesystem: no bytecode written at run time, HOME in the /tmp emptyDir.
    env = " ".join(a for kind, a in runtime if kind == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "HOME=/tmp" in env


def test_dockerfile_holds_no_secret() -> None:
    for kind, arguments in instructions(DOCKERFILE):
        if kind in ("ENV", "ARG", "LABEL"):
            assert not SECRET_WORDS.search(arguments), arguments
        if kind in ("COPY", "ADD"):
            assert ".env" not in arguments and "id_rsa" not in arguments, arguments


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip("/")
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + "$")


def in_build_context(path: str) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; a pattern matching a parent
    folder matches everything below it."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for rule in rules:
        negate = rule.startswith("!")
        regex = _dockerignore_regex(rule.lstrip("!"))
        if any(regex.match(prefix) for prefix in prefixes):
            included = negate
    return included


def test_build_context_has_the_sources_and_nothing_secret() -> None:
    for kind, arguments in instructions(DOCKERFILE) + instructions(
        ROOT / "operator" / "Dockerfile"
    ):
        if kind == "COPY" and "--from" not in arguments:
            for source in arguments.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert in_build_context(source.rstrip("/")), source
    for wanted in ("pyproject.toml", "README.md", "services/krstock/cli.py",
                   "operator/krstock_operator/enqueue.py"):  # fmt: skip
        assert in_build_context(wanted), wanted
    for unwanted in (".env", ".git/config", ".venv/bin/python", "tests/conftest.py",
                     "services/krstock/.env", "services/krstock/__pycache__/cli.cpython-311.pyc",
                     "charts/krstock/values.yaml"):  # fmt: skip
        assert not in_build_context(unwanted), unwanted


def test_the_extras_the_image_installs_exist() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = DOCKERFILE.read_text()
    for extra in re.findall(r"\[([a-z,]+)\]", text.split("pip wheel")[1].splitlines()[0]):
        assert set(extra.split(",")) <= set(project["optional-dependencies"])
    assert project["scripts"]["krstock"] == "krstock.cli:main"


# ---------------------------------------------------------------- the commands the pods run


def check_krstock(argv: list[str]) -> None:
    """Parse ``argv`` with the real CLI (Typer/Click): an unknown command or option raises."""
    from krstock import cli

    assert argv[0] == "krstock", argv
    # Typer vendors its own Click: duck-type the group rather than isinstance(click.Group).
    command: Any = typer.main.get_command(cli.app)
    ctx = command.make_context("krstock", list(argv[1:]))
    while hasattr(command, "resolve_command"):
        protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])
        rest = [*protected, *ctx.args]
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None, argv
        command = sub
        ctx = command.make_context(name, rest, parent=ctx)


def commands_of(argv: list[str]) -> list[list[str]]:
    """The krstock (or python -m) invocations inside one container command line."""
    if argv[:2] == ["sh", "-c"]:
        found = []
        for segment in re.split(r"[;&|]|\bdo\b|\bdone\b|\buntil\b|\bthen\b", argv[2]):
            words = shlex.split(segment.split(">")[0])
            if words and words[0] == "krstock":
                found.append(words)
        assert found, argv
        return found
    if argv[:2] == ["python", "-c"]:
        found = [json.loads(m) for m in re.findall(r'\["krstock"[^\]]*\]', argv[2])]
        compile(argv[2], "<python -c>", "exec")
        return found
    return [argv]


def check_command(argv: list[str]) -> None:
    if argv[0] == "krstock":
        check_krstock(argv)
    elif argv[:2] == ["python", "-m"]:
        assert importlib.util.find_spec(argv[2]) is not None, argv
        if argv[2] == "krstock_operator.enqueue":
            from krstock_operator import enqueue

            parser_args = argv[3:]
            with pytest.raises(SystemExit) as stopped:  # --help proves the options parse
                enqueue.main([*parser_args, "--help"])
            assert stopped.value.code == 0
    else:
        raise AssertionError(f"not a command of the platform image: {argv}")


def containers_of(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for doc in docs:
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        pod = spec.get("template", {}).get("spec") if doc["kind"] != "Pod" else spec
        if not pod:
            continue
        for container in pod.get("initContainers", []) + pod["containers"]:
            out.append((f"{doc['kind']}/{doc['metadata']['name']}/{container['name']}", container))
    return out


def _maintain_exists() -> bool:
    try:
        check_krstock(["krstock", "db", "maintain"])
    except Exception:  # Click's "No such command"
        return False
    return True


SCENARIO_ARGS: dict[str, tuple[str, ...]] = {
    name: ("-f", str(path)) for name, path in SCENARIOS.items()
}
SCENARIO_ARGS["maintenance-on"] = (
    "-f", str(SCENARIOS["defaults"]), "--set", "schedules.maintenance.enabled=true",
)  # fmt: skip


@pytest.mark.parametrize("scenario", sorted(SCENARIO_ARGS))
def test_every_command_the_chart_runs_is_a_real_krstock_command(
    render: Render, scenario: str
) -> None:
    if scenario == "maintenance-on" and not _maintain_exists():
        pytest.skip("`krstock db maintain` does not exist yet: the CronJob stays off by default")
    docs = render(*SCENARIO_ARGS[scenario])
    checked = 0
    for where, container in containers_of(docs):
        image = container["image"]
        if not image.startswith("ghcr.io/krstock/krstock:"):
            continue  # TimescaleDB, Redis, the operator's own image
        argv = [*container["command"], *container.get("args", [])]
        for command in commands_of(argv):
            try:
                check_command(command)
            except Exception as exc:  # Click's usage errors name the bad word
                raise AssertionError(f"{where}: {command}: {exc}") from exc
            checked += 1
    assert checked >= 5


def test_the_operator_s_worker_and_enqueue_commands_are_real(render: Render) -> None:
    """The operator builds these pods at run time from the chart's settings: check them too."""
    from chart_helpers import operator_children

    children = operator_children(render(), scanner="daily-pipeline", schedule="40 15 * * 1-5")
    seen = set()
    for _where, container in containers_of(children):
        argv = [*container["command"], *container.get("args", [])]
        check_command(argv)
        seen.add(argv[0] if argv[0] == "krstock" else argv[2])
    assert seen == {"krstock", "krstock_operator.enqueue"}


def test_the_build_context_builds_a_wheel_with_everything_the_pods_run(tmp_path: Path) -> None:
    """What the image's build stage does, on exactly the files .dockerignore lets in: the wheel
    carries every module, the migrations and the package data, and the `krstock` entry point."""
    import shutil
    import subprocess
    import sys
    import zipfile

    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    context = tmp_path / "context"
    copied = [f for f in tracked if in_build_context(f) and (ROOT / f).is_file()]
    for name in copied:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, context / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "out"),
         str(context)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "out").glob("krstock-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in copied:
        for prefix in ("services/", "operator/"):
            if source.startswith(prefix) and not source.endswith((".md", ".typed")):
                assert source.removeprefix(prefix) in names, source
    assert "krstock/db/migrations/alembic.ini" in names
    assert "krstock_operator/enqueue.py" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "krstock = krstock.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
