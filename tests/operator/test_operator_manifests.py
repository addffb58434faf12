"""The manifest builders as pure functions: what they build, and that Kubernetes would accept it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from crd_validator import validate

from krstock_operator.config import OperatorSettings
from krstock_operator.converge import three_way_patch, with_last_applied
from krstock_operator.manifests import (
    ClusterContext,
    Owner,
    PolicyDoc,
    autoscaler_kind,
    desired_children,
    enqueue_command,
    policies_configmap,
)
from krstock_operator.runs import RunsUnavailable, latest, parse_run
from krstock_operator.spec import parse_spec
from krstock_operator.status import Condition, phase_for, render_conditions

ROOT = Path(__file__).resolve().parents[2]
KEDA_CRD_PATH = ROOT.parent / "shared" / "schemas" / "crds" / "keda.sh_scaledobjects.yaml"
KEDA_CRD = yaml.safe_load(KEDA_CRD_PATH.read_text()) if KEDA_CRD_PATH.is_file() else None
OWNER = Owner(namespace="markets", name="daily-vcp", uid="0b5c1f7e-3d3a-4c65-9d7e-4f2b7f5b8a11")
SETTINGS = OperatorSettings(_env_file=None)  # type: ignore[call-arg]
POLICY = PolicyDoc(name="krstock-default", data='{"name": "krstock-default"}', digest="ab" * 32)
VERSIONS = ["1.29.0", "1.30.0", "1.31.0"]


def _example_spec(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples" / name).read_text(encoding="utf-8"))["spec"]


CASES = {
    "daily-vcp/keda": (_example_spec("scanjob-daily-vcp.yaml"), True),
    "daily-vcp/no-keda": (_example_spec("scanjob-daily-vcp.yaml"), False),
    "closing-bet-once": (_example_spec("scanjob-closing-bet-once.yaml"), True),
    "daily-pipeline": (_example_spec("scanjob-daily-pipeline.yaml"), True),
    "backtest-hpa": (_example_spec("scanjob-backtest-watchlist.yaml"), False),
}


def _children(case: str, policy: PolicyDoc | None = POLICY) -> list[dict[str, Any]]:
    raw, keda = CASES[case]
    ctx = ClusterContext(settings=SETTINGS, keda_available=keda, policy=policy)
    return desired_children(OWNER, parse_spec(raw), ctx)


def _index(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{c['kind']}/{c['metadata']['name']}": c for c in children}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_built_object_validates(case: str, version: str) -> None:
    children = _children(case)
    for child in children:
        if child["kind"] != "ScaledObject":
            kubernetes_validate.validate(child, version, strict=True)
    scaled = [c for c in children if c["kind"] == "ScaledObject"]
    if scaled and KEDA_CRD is None:
        pytest.skip(f"{KEDA_CRD_PATH} is absent: ScaledObjects not checked against KEDA's CRD")
    for child in scaled:
        assert validate(KEDA_CRD, child) == [], child  # KEDA's own CRD schema


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_child_is_owned_and_labelled(case: str) -> None:
    for child in _children(case):
        meta = child["metadata"]
        assert meta["namespace"] == "markets"
        (ref,) = meta["ownerReferences"]
        assert ref == {
            "apiVersion": "krstock.io/v1alpha1",
            "kind": "ScanJob",
            "name": "daily-vcp",
            "uid": OWNER.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        for key in ("name", "instance", "component", "part-of", "managed-by", "version"):
            assert meta["labels"][f"app.kubernetes.io/{key}"], key
        assert meta["labels"]["krstock.io/scanjob"] == "daily-vcp"


def test_scheduled_vcp_with_keda() -> None:
    children = _index(_children("daily-vcp/keda"))
    assert sorted(children) == [
        "CronJob/daily-vcp",
        "Deployment/daily-vcp-worker-scan",
        "ScaledObject/daily-vcp-worker-scan",
    ]
    cron = children["CronJob/daily-vcp"]["spec"]
    assert cron["schedule"] == "10 16 * * 1-5" and cron["timeZone"] == "Asia/Seoul"
    assert cron["concurrencyPolicy"] == "Forbid" and cron["startingDeadlineSeconds"] == 600
    assert (cron["successfulJobsHistoryLimit"], cron["failedJobsHistoryLimit"]) == (3, 2)
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["command"] == [
        "python", "-m", "krstock_operator.enqueue", "--api", "http://krstock-gateway.krstock.svc.cluster.local:8000",
        "--kind", "vcp", "--scanjob", "markets/daily-vcp",
        "--skip-closed-days", "--time-zone", "Asia/Seoul",
        "--policy", "/etc/krstock/sp/krstock-default.json", "--param", "top_n=1000",
    ]  # fmt: skip
    deployment = children["Deployment/daily-vcp-worker-scan"]["spec"]
    assert "replicas" not in deployment
    pod = deployment["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["krstock", "worker", "--queues", "scan"]
    assert container["args"] == ["--concurrency", "2", "--metrics-port", "9808"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9808, "protocol": "TCP"}]
    assert deployment["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9808"
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "2Gi"},
    }
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["KRSTOCK_POLICY_FILE"] == "/etc/krstock/sp/krstock-default.json"
    assert env["KRSTOCK_WORKER_METRICS_PORT"] == "9808"  # the worker's metrics server reads it
    # The chart's settings ConfigMap and env Secret (a release named krstock), optional.
    assert container["envFrom"] == [
        {"configMapRef": {"name": "krstock-config", "optional": True}},
        {"secretRef": {"name": "krstock-env", "optional": True}},
    ]
    assert pod["automountServiceAccountToken"] is False
    assert {
        "name": "policies",
        "configMap": {"name": "krstock-signalpolicies", "optional": True},
    } in pod["volumes"]
    assert env["KRSTOCK_WORKER_HEARTBEAT_FILE"] == "/tmp/krstock-worker-heartbeat"
    assert "krstock-worker-heartbeat" in " ".join(container["livenessProbe"]["exec"]["command"])
    assert container["readinessProbe"]["exec"]["command"] == [
        "test",
        "-f",
        "/tmp/krstock-worker-ready",
    ]
    assert pod["terminationGracePeriodSeconds"] > 900  # beyond the run's time limit
    assert pod["securityContext"]["runAsNonRoot"] is True
    scaled = children["ScaledObject/daily-vcp-worker-scan"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "daily-vcp-worker-scan"
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == "scan"
    assert trigger["metadata"]["address"] == "krstock-redis.krstock.svc.cluster.local:6379"


def test_without_keda_auto_means_fixed_replicas() -> None:
    children = _index(_children("daily-vcp/no-keda"))
    assert "ScaledObject/daily-vcp-worker-scan" not in children
    assert children["Deployment/daily-vcp-worker-scan"]["spec"]["replicas"] == 1


def test_run_once_is_a_job_and_not_a_cronjob() -> None:
    children = _index(_children("closing-bet-once"))
    (job,) = [c for c in children.values() if c["kind"] == "Job"]
    assert not [c for c in children.values() if c["kind"] == "CronJob"]
    assert job["metadata"]["name"].startswith("daily-vcp-run-")
    assert job["spec"]["suspend"] is False
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--kind") + 1] == "closing_bet"
    # Once its run was enqueued and the Job is gone, it is not built again.
    raw, _ = CASES["closing-bet-once"]
    done = ClusterContext(settings=SETTINGS, keda_available=True, policy=POLICY, run_once_done=True)
    assert not [c for c in desired_children(OWNER, parse_spec(raw), done) if c["kind"] == "Job"]


def test_run_hash_changes_with_the_run_not_with_the_workers() -> None:
    raw, _ = CASES["closing-bet-once"]
    base = parse_spec(raw).run_hash()
    assert parse_spec({**raw, "workers": {"replicas": 5}}).run_hash() == base
    assert parse_spec({**raw, "universe": {"markets": ["KOSPI"]}}).run_hash() != base


def test_daily_pipeline_gets_one_worker_per_queue() -> None:
    children = _children("daily-pipeline")
    workers = {
        c["metadata"]["labels"]["krstock.io/queue"] for c in children if c["kind"] == "Deployment"
    }
    assert workers == {"maintenance", "collect", "scan", "ai"}
    assert len([c for c in children if c["kind"] == "ScaledObject"]) == 4
    cron = next(c for c in children if c["kind"] == "CronJob")
    command = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--kind") + 1] == "pipeline"


def test_hpa_mode_builds_a_cpu_hpa() -> None:
    children = _index(_children("backtest-hpa"))
    hpa = children["HorizontalPodAutoscaler/daily-vcp-worker-maintenance"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 2)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert "replicas" not in children["Deployment/daily-vcp-worker-maintenance"]["spec"]
    job = next(c for c in children.values() if c["kind"] == "Job")
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--kind") + 1] == "backtest"
    assert command[command.index("--tickers") + 1] == "005930,000660,035420,035720"
    assert command[-6:] == [
        "--param", "end=2025-12-30", "--param", "start=2025-01-02", "--param", "strategy=vcp",
    ]  # fmt: skip


def test_no_policy_means_no_policy_file() -> None:
    children = _children("daily-vcp/keda", policy=None)
    worker = next(c for c in children if c["kind"] == "Deployment")
    env = worker["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "KRSTOCK_POLICY_FILE" not in {e["name"] for e in env}
    assert "--policy" not in enqueue_command(
        OWNER, parse_spec(CASES["daily-vcp/keda"][0]), ClusterContext(SETTINGS, True, None)
    )


@pytest.mark.parametrize(
    ("mode", "keda", "expected"),
    [("auto", True, "keda"), ("auto", False, "none"), ("keda", False, "none"), ("hpa", True, "hpa"),
     ("none", True, "none")],
)  # fmt: skip
def test_autoscaler_choice(mode: str, keda: bool, expected: str) -> None:
    assert (
        autoscaler_kind(parse_spec({"scanner": "vcp", "workers": {"autoscaling": mode}}), keda)
        == expected
    )


def test_three_way_patch_removes_what_the_operator_stopped_setting() -> None:
    before = {"spec": {"replicas": 2, "template": {"x": 1}}, "metadata": {"labels": {"a": "1"}}}
    after = {"spec": {"template": {"x": 1}}, "metadata": {"labels": {"a": "1"}}}
    live = with_last_applied({"metadata": {"name": "n"}, **before})
    live["spec"]["replicas"] = 7  # an autoscaler's doing: not ours to keep, but ours to drop
    last = json.loads(live["metadata"]["annotations"]["krstock.io/last-applied"])
    patch = three_way_patch(last, after, live)
    assert patch == {"spec": {"replicas": None}}


def test_three_way_patch_repairs_drift_and_leaves_server_defaults() -> None:
    desired = {"spec": {"suspend": False, "containers": [{"name": "w"}]}}
    live = {
        "spec": {"suspend": True, "containers": [{"name": "w", "terminationMessagePath": "/x"}]}
    }
    assert three_way_patch(desired, desired, live) == {"spec": {"suspend": False}}
    assert three_way_patch({}, desired, {}) == desired


def test_run_records_parse_and_pick_the_newest() -> None:
    runs = [
        parse_run({"id": "a", "status": "SUCCEEDED", "started_at": "2026-11-25T07:00:00+00:00",
                   "finished_at": "2026-11-25T07:01:00+00:00", "counts": {"signals": 3}}),
        parse_run({"id": "b", "status": "FAILED", "started_at": "2026-11-26T07:00:00Z"}),
    ]  # fmt: skip
    assert runs[0].as_status() == {
        "id": "a",
        "state": "SUCCEEDED",
        "startedAt": "2026-11-25T07:00:00Z",
        "finishedAt": "2026-11-25T07:01:00Z",
        "signals": 3,
    }
    assert latest(runs).id == "b"  # type: ignore[union-attr]
    assert latest([*runs, parse_run({"id": "c", "status": "PENDING"})]).id == "c"  # type: ignore[union-attr]
    # The API's creation time decides when it is there: an old run stuck in PENDING is not newest.
    stuck = parse_run({"id": "old", "status": "PENDING", "created_at": "2026-11-01T00:00:00Z"})
    fresh = parse_run({"id": "new", "status": "SUCCEEDED", "created_at": "2026-11-26T07:00:00Z"})
    assert latest([stuck, fresh]).id == "new"  # type: ignore[union-attr]
    with pytest.raises(RunsUnavailable, match="unknown status"):
        parse_run({"id": "d", "status": "DONE"})


@pytest.mark.parametrize(
    ("blocked", "scheduled", "suspended", "state", "phase"),
    [
        (True, True, False, "RUNNING", "Blocked"),
        (False, True, False, None, "Scheduled"),
        (False, True, True, None, "Suspended"),
        (False, True, False, "RUNNING", "Running"),
        (False, False, False, None, "Pending"),
        (False, False, False, "PENDING", "Running"),
        (False, False, False, "SUCCEEDED", "Succeeded"),
        (False, False, False, "FAILED", "Failed"),
    ],
)
def test_phase(
    blocked: bool, scheduled: bool, suspended: bool, state: str | None, phase: str
) -> None:
    run = parse_run({"id": "r", "status": state}) if state else None
    assert (
        phase_for(blocked=blocked, scheduled=scheduled, suspended=suspended, last_run=run) == phase
    )


def test_condition_transition_time_moves_only_on_a_flip() -> None:
    import datetime as dt

    t0 = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)
    first = render_conditions([Condition("Ready", True, "Reconciled", "ok")], None, 1, t0)
    later = t0 + dt.timedelta(minutes=5)
    same = render_conditions([Condition("Ready", True, "Reconciled", "ok")], first, 2, later)
    flipped = render_conditions([Condition("Ready", False, "PolicyNotFound", "x")], same, 3, later)
    assert same[0]["lastTransitionTime"] == "2026-11-27T01:00:00Z"
    assert same[0]["observedGeneration"] == 2
    assert flipped[0]["lastTransitionTime"] == "2026-11-27T01:05:00Z"


@pytest.mark.parametrize("version", VERSIONS)
def test_policies_configmap_holds_every_policy_of_the_namespace(version: str) -> None:
    other = PolicyDoc(name="tighter-vcp", data='{"name": "tighter-vcp"}', digest="cd" * 32)
    configmap = policies_configmap("markets", [(other, "uid-2"), (POLICY, "uid-1")])
    kubernetes_validate.validate(configmap, version, strict=True)
    assert configmap["metadata"]["name"] == "krstock-signalpolicies"
    assert configmap["data"] == {
        "krstock-default.json": '{"name": "krstock-default"}',
        "tighter-vcp.json": '{"name": "tighter-vcp"}',
    }
    refs = configmap["metadata"]["ownerReferences"]
    assert [(r["kind"], r["name"], r["uid"]) for r in refs] == [
        ("SignalPolicy", "krstock-default", "uid-1"),
        ("SignalPolicy", "tighter-vcp", "uid-2"),
    ]
    assert not any(r.get("controller") for r in refs)


def test_a_narrow_universe_reaches_the_scan_run() -> None:
    raw = dict(CASES["daily-vcp/keda"][0])
    ctx = ClusterContext(SETTINGS, True, None)
    raw["universe"] = {"markets": ["KOSPI", "KOSDAQ"]}
    whole = enqueue_command(OWNER, parse_spec(raw), ctx)
    assert not any(arg.startswith(("markets=", "top_n=")) for arg in whole)  # the whole market
    raw["universe"] = {"markets": ["KOSDAQ"], "topByTradingValue": 100}
    narrow = enqueue_command(OWNER, parse_spec(raw), ctx)
    assert narrow[narrow.index("markets=KOSDAQ") - 1] == "--param"
    assert narrow[narrow.index("top_n=100") - 1] == "--param"
