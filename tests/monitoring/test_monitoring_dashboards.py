"""The Grafana dashboards: regenerated files are current, each validates against the Grafana
dashboard JSON Schema, uids are stable and unique, every panel reads through ``${datasource}``,
and the chart ships each as a ConfigMap with the sidecar's label."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from monitoring_helpers import (
    DASHBOARD_SCHEMA,
    DASHBOARDS,
    MONITORING_VALUES,
    ROOT,
    dashboards,
    metric_names,
    panels,
    promql_queries,
    recorded_series,
)

UIDS = {
    "operations": "krstock-operations",
    "pipeline": "krstock-pipeline",
    "market": "krstock-market",
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    if not DASHBOARD_SCHEMA.is_file():
        pytest.skip(f"{DASHBOARD_SCHEMA} is not on this machine")
    return jsonschema.Draft7Validator(json.loads(DASHBOARD_SCHEMA.read_text()))


def test_the_dashboard_files_are_what_the_generator_writes() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dashboards.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr


def test_every_dashboard_validates_against_the_schema(
    validator: jsonschema.Draft7Validator,
) -> None:
    boards = dashboards()
    assert set(boards) == set(UIDS)
    for name, board in boards.items():
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(board)]
        assert errors == [], name


def test_the_schema_refuses_a_broken_dashboard(validator: jsonschema.Draft7Validator) -> None:
    board = copy.deepcopy(dashboards()["operations"])
    board["panels"][1]["gridPos"] = {"w": 12}  # h, x, y missing
    board["panels"][2]["datasourceUid"] = "prometheus"  # no such field
    assert len(list(validator.iter_errors(board))) >= 2


def test_uids_are_stable_and_unique_and_panels_use_the_datasource_variable() -> None:
    boards = dashboards()
    assert {name: b["uid"] for name, b in boards.items()} == UIDS
    for name, board in boards.items():
        variables = board["templating"]["list"]
        assert [v["name"] for v in variables if v["type"] == "datasource"] == ["datasource"]
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        shown = panels(board)
        assert len(shown) >= 6, name
        for panel in shown:
            assert panel["datasource"]["uid"] == "${datasource}", (name, panel["title"])
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
            assert panel["targets"], (name, panel["title"])
    assert boards["market"]["templating"]["list"][0]["query"] == "grafana-postgresql-datasource"


def test_the_chart_ships_each_dashboard_as_a_labelled_configmap(render: Any) -> None:
    docs = render("-f", str(MONITORING_VALUES))
    maps = {
        d["metadata"]["name"]: d
        for d in docs
        if d["kind"] == "ConfigMap" and "-dashboard-" in d["metadata"]["name"]
    }
    assert set(maps) == {f"krstock-dashboard-{name}" for name in UIDS}
    for name in UIDS:
        config_map = maps[f"krstock-dashboard-{name}"]
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        shipped = json.loads(config_map["data"][f"{name}.json"])
        assert shipped == json.loads((DASHBOARDS / f"{name}.json").read_text())


def test_every_query_parses_and_time_series_sql_has_a_time_column() -> None:
    """PromQL parsed offline (the live test also runs it on Prometheus); SQL panels drawn as
    time series return a ``time`` column first, as Grafana's PostgreSQL data source expects."""
    for query in promql_queries():
        assert metric_names(query) or recorded_series(query), query
    for board in dashboards().values():
        for panel in panels(board):
            for target in panel["targets"]:
                if target.get("format") == "time_series":
                    # the outer SELECT: the last one starting a line (CTEs come before it)
                    outer = re.findall(r"^SELECT (.+)$", target["rawSql"], re.M)[-1]
                    assert outer.split(",")[0].strip().endswith("AS time"), panel["title"]
