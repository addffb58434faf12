"""The chart's PrometheusRule as rendered: promtool check rules, the promtool unit tests (one
firing and one quiet case per alert), each alert's for/severity/summary/description and a
runbook section in docs/runbooks.md; the monitoring objects appear only when switched on and
where Prometheus Operator's API exists, and select what the platform actually labels."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import CHART, by_kind, named, operator_children, parse, pod_labels
from monitoring_helpers import MONITORING_VALUES, RUNBOOKS, UNIT_TESTS, alerts

SEVERITIES = {"critical", "warning"}


@pytest.fixture(scope="module")
def monitoring_render(render: Any) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = render("-f", str(MONITORING_VALUES))
    return docs


@pytest.fixture(scope="module")
def rendered_rules(monitoring_render: list[dict[str, Any]], tmp_path_factory: Any) -> Path:
    """The rendered PrometheusRule's spec as a rules file, next to the unit tests (whose
    expected annotations name the runbooks as RUNBOOKS)."""
    (rule,) = by_kind(monitoring_render)["PrometheusRule"]
    folder = tmp_path_factory.mktemp("rules")
    text = yaml.safe_dump(rule["spec"], sort_keys=False)
    text = re.sub(r"https://\S+/docs/runbooks\.md#", "RUNBOOKS#", text)
    (folder / "rules.yaml").write_text(text)
    shutil.copy(UNIT_TESTS, folder / "rules_test.yaml")
    return folder / "rules.yaml"


def test_promtool_check_rules(rendered_rules: Path, promtool: str) -> None:
    checked = subprocess.run(
        [promtool, "check", "rules", str(rendered_rules)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(yaml.safe_load(rendered_rules.read_text())['groups'][0]['rules'])}"


def test_promtool_unit_tests_pass(rendered_rules: Path, promtool: str) -> None:
    tested = subprocess.run(
        [promtool, "test", "rules", "rules_test.yaml"],
        capture_output=True,
        text=True,
        cwd=rendered_rules.parent,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_unit_tests_can_fail(rendered_rules: Path, promtool: str) -> None:
    """A wrong expectation is reported: the unit tests compare labels and annotations."""
    broken = rendered_rules.parent / "broken_test.yaml"
    broken.write_text(
        (rendered_rules.parent / "rules_test.yaml")
        .read_text()
        .replace("gateway: 50%", "gateway: 5%")
    )
    tested = subprocess.run(
        [promtool, "test", "rules", broken.name],
        capture_output=True,
        text=True,
        cwd=rendered_rules.parent,
    )
    assert tested.returncode != 0 and "KrstockApi5xxRatioHigh" in tested.stdout + tested.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases: dict[str, list[bool]] = {}
    for group in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for case in group.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], []).append(bool(case["exp_alerts"]))
    names = {a["alert"] for a in alerts()}
    assert set(cases) == names
    for name in names:
        assert True in cases[name] and False in cases[name], name


def test_every_alert_is_complete_and_has_a_runbook(
    monitoring_render: list[dict[str, Any]],
) -> None:
    (rule,) = by_kind(monitoring_render)["PrometheusRule"]
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", RUNBOOKS.read_text(), re.M)
    }
    rendered = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert len(rendered) >= 12
    for alert in rendered:
        name = alert["alert"]
        assert re.fullmatch(r"\d+[mh]", alert["for"]), name
        assert alert["labels"]["severity"] in SEVERITIES, name
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], name
        url = alert["annotations"]["runbook_url"]
        assert url.startswith("https://github.com/krstock/krstock/blob/"), url
        assert url.endswith(f"/docs/runbooks.md#{name.lower()}") and name.lower() in headings


def test_the_alerts_the_issue_asks_for_exist() -> None:
    assert {a["alert"] for a in alerts()} >= {
        "KrstockApi5xxRatioHigh",
        "KrstockApiLatencyP99High",
        "KrstockQueueBacklogGrowing",
        "KrstockTaskFailureRatioHigh",
        "KrstockDailyPipelineMissed",
        "KrstockMarketDataStale",
        "KrstockDeadLetterGrowing",
        "KrstockOperatorReconcileErrors",
        "KrstockScanJobDegraded",
        "KrstockDatabaseUnreachable",
        "KrstockDbPoolExhausted",
        "KrstockWorkersAbsent",
    }


def test_monitoring_objects_need_the_values_and_the_api(helm: Any) -> None:
    def kinds(*args: str) -> set[str]:
        out = helm("template", "krstock", str(CHART), "--namespace", "krstock", *args)
        return {d["kind"] for d in parse(out.stdout)}

    crds = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    on = ("-f", str(MONITORING_VALUES))
    with_api = kinds(*on, "--api-versions", "monitoring.coreos.com/v1")
    assert crds <= with_api
    without_api = kinds(*on)
    assert not crds & without_api and "ConfigMap" in without_api  # dashboards need no CRD
    off = kinds("--api-versions", "monitoring.coreos.com/v1", "--set", "secrets.postgresPassword=x",
                "--set", "secrets.appPassword=y")  # fmt: skip
    assert not crds & off


def test_monitors_select_the_platform_as_it_is_labelled(
    monitoring_render: list[dict[str, Any]],
) -> None:
    monitors = by_kind(monitoring_render)
    (service_monitor,) = monitors["ServiceMonitor"]
    assert service_monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = service_monitor["spec"]["selector"]
    components = set(selector["matchExpressions"][0]["values"])
    selected = [
        s
        for s in monitors["Service"]
        if all(s["metadata"]["labels"].get(k) == v for k, v in selector["matchLabels"].items())
        and s["metadata"]["labels"].get("app.kubernetes.io/component") in components
    ]
    assert {s["metadata"]["labels"]["app.kubernetes.io/component"] for s in selected} == {
        "gateway", "scanner", "signals", "analyzer",
    }  # fmt: skip
    for service in selected:
        assert "http" in {p["name"] for p in service["spec"]["ports"]}

    workers = named(monitoring_render, "PodMonitor", "krstock-workers")["spec"]
    assert workers["namespaceSelector"] == {"any": True}  # ScanJobs live in any namespace
    built = [
        d
        for d in operator_children(monitoring_render, scanner="vcp", schedule="20 16 * * 1-5")
        if d["kind"] == "Deployment"
    ]
    assert built
    for deployment in built:
        assert pod_labels(deployment).items() >= workers["selector"]["matchLabels"].items()
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        port = workers["podMetricsEndpoints"][0]["port"]
        assert port in {p["name"] for p in container["ports"]}
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["KRSTOCK_WORKER_METRICS_PORT"] == "9808"

    operator = named(monitoring_render, "PodMonitor", "krstock-operator")["spec"]
    deployment = named(monitoring_render, "Deployment", "krstock-operator")
    assert pod_labels(deployment).items() >= operator["selector"]["matchLabels"].items()
    ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert "metrics" in ports
