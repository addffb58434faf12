"""Layers import downward only: domain ← (db, cache, marketdata) ← ingest ← ai ← (app, bus) ←
(api, worker) ← benchmarks ← commands ← cli. Siblings of one layer do not import each other.

Every import counts, including those inside functions and under TYPE_CHECKING: a module that
reaches up, even lazily, ties the lower layer to the upper one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "krstock"

LAYERS: dict[str, int] = {
    # Top-level modules every layer may use: settings, logging, console output.
    "config": 0,
    "logging_setup": 0,
    "output": 0,
    "errors": 0,
    "domain": 1,
    "db": 2,
    "cache": 2,
    "marketdata": 2,
    "ingest": 3,
    "ai": 4,  # below app: the analysis step and the closing-bet news judgement use it
    "app": 5,
    "bus": 5,
    "api": 6,
    "worker": 6,
    "benchmarks": 7,
    "commands": 8,
    "cli": 9,
}


def _unit(path: Path) -> str:
    """The layer unit a file belongs to: its top folder, or its module name at the top."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_units(path: Path) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "krstock" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


FILES = sorted(p for p in PACKAGE.rglob("*.py") if _unit(p) != "__init__")


def test_every_unit_has_a_layer() -> None:
    units = {_unit(p) for p in FILES}
    assert units <= set(LAYERS), f"give these a layer: {sorted(units - set(LAYERS))}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_downward(path: Path) -> None:
    own = _unit(path)
    wrong = [
        f"line {line}: krstock.{unit} (layer {LAYERS.get(unit)}) from {own} (layer {LAYERS[own]})"
        for unit, line in sorted(_imported_units(path))
        if unit != own and unit in LAYERS and LAYERS[unit] >= LAYERS[own]
    ]
    assert not wrong, "\n".join(wrong)
