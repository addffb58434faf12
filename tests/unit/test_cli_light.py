"""The ``krstock`` command starts light: importing it loads none of the heavy libraries (each
command imports what it needs when it runs), and every command still answers ``--help``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from krstock import __version__
from krstock.cli import app

HEAVY = ("pandas", "numpy", "sqlalchemy", "psycopg", "celery", "fastapi")

_LOADED = """
import json, sys
import krstock.cli
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_importing_the_cli_loads_no_heavy_library() -> None:
    done = _python("-c", _LOADED)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*prefix, name))


COMMANDS = list(_command_paths(typer.main.get_command(app)))


def test_the_command_tree_is_complete() -> None:
    top = {path[0] for path in COMMANDS if path}
    assert {"db", "import", "collect", "scan", "demo", "worker", "serve", "apikey"} <= top
    assert {"bench", "run", "bus", "version", "enqueue", "schedule", "worker-probe"} <= top
    benches = {path[1] for path in COMMANDS if len(path) == 2 and path[0] == "bench"}
    assert benches == {"ingest", "scan", "scan-db", "pipeline", "api", "vcp"}


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "krstock")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_version_option_and_command() -> None:
    runner = CliRunner()
    for args in (["--version"], ["version"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and result.output.strip() == __version__


def test_version_option_in_a_fresh_process() -> None:
    done = _python("-c", "from krstock.cli import main; main()", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == __version__
