"""What the monitoring tests share: the chart's rules and dashboards, and the metric names and
queries they use."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "krstock"
RULES = CHART / "monitoring" / "rules.yaml"
DASHBOARDS = CHART / "monitoring" / "dashboards"
MONITORING_VALUES = CHART / "ci" / "monitoring-values.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
DASHBOARD_SCHEMA = ROOT.parent / "shared" / "schemas" / "grafana-dashboard.schema.json"
UNIT_TESTS = Path(__file__).resolve().parent / "rules_test.yaml"


def rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def promql_queries() -> list[str]:
    """Every PromQL expression: recording rules, alerts, Prometheus panels."""
    out = [r["expr"] for r in rules()]
    for board in dashboards().values():
        for panel in panels(board):
            out += [t["expr"] for t in panel["targets"] if "expr" in t]
    return out


def sql_queries() -> list[tuple[str, str]]:
    return [
        (f"{name}: {panel['title']}", t["rawSql"])
        for name, board in dashboards().items()
        for panel in panels(board)
        for t in panel["targets"]
        if "rawSql" in t
    ]


def _selectors(node: Any) -> Iterator[str]:
    if type(node).__name__ == "VectorSelector" and node.name:
        yield node.name
    for attr in ("lhs", "rhs", "expr", "args", "param", "vector_selector"):
        child = getattr(node, attr, None)
        for item in child if isinstance(child, list) else [child]:
            if item is not None:
                yield from _selectors(item)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (parsed with promql-parser), recorded ``krstock:``
    series excluded: those are checked through the rules that record them."""
    return {n for n in _selectors(promql_parser.parse(expr)) if ":" not in n}


def recorded_series(expr: str) -> set[str]:
    """The recorded (``name:with:colons``) series an expression selects."""
    return {n for n in _selectors(promql_parser.parse(expr)) if ":" in n}


def recorded_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def exposed_names(exposition: str) -> set[str]:
    """Metric family names of a /metrics text (from its TYPE lines), with histogram/summary
    sample names and the ``_total`` of counters."""
    names: set[str] = set()
    for match in re.finditer(r"^# TYPE (\S+) (\S+)$", exposition, re.M):
        name, kind = match.groups()
        names.add(name)
        if kind == "counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
        if kind in ("histogram", "summary"):
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names
