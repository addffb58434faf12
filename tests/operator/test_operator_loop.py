"""The real Kopf loop against kmock's emulator (KEDA installed): create, update, policy, errors.

One emulator, one fake API and one operator serve the whole module; each test works in its own
namespace. Kubernetes garbage collection is not emulated, so deletion is asserted through the
owner references the API server's collector follows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from operator_harness import POLICIES, SCANJOBS, Harness, example, running_operator

from krstock_operator import metrics, rbac
from krstock_operator.manifests import POLICY_DIGEST_ANNOTATION

# One operator serves the whole module and the last test reads what it did, so the module's
# tests must run together on one xdist worker: scripts/test.sh runs --dist loadfile.
pytestmark = pytest.mark.asyncio(loop_scope="module")

DEPLOYMENTS = "apps/v1/deployments"
CRONJOBS = "batch/v1/cronjobs"
JOBS = "batch/v1/jobs"
SCALED = "keda.sh/v1alpha1/scaledobjects"
HPAS = "autoscaling/v2/horizontalpodautoscalers"
CONFIGMAPS = "v1/configmaps"


# Requests of every operator this module started (should pytest start the module fixture anew,
# e.g. when a run reorders tests, the RBAC check still sees everything the module did).
EARLIER_REQUESTS: list[Any] = []


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def op() -> AsyncIterator[Harness]:
    async with running_operator(keda=True) as harness:
        yield harness
        EARLIER_REQUESTS.extend(harness.requests())


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def _cleanup(op: Harness) -> AsyncIterator[None]:
    yield
    await op.cleanup()


def _owned_by(obj: dict[str, Any], scanjob: dict[str, Any]) -> bool:
    refs = obj["metadata"].get("ownerReferences", [])
    return any(
        r["uid"] == scanjob["metadata"]["uid"]
        and r["kind"] == "ScanJob"
        and r["controller"] is True
        and r["blockOwnerDeletion"] is True
        for r in refs
    )


async def test_create_builds_children_with_owner_references_and_status(op: Harness) -> None:
    ns = "t-create"
    await op.create(example("signalpolicy-default.yaml"), ns)
    scanjob = await op.create(example("scanjob-daily-vcp.yaml"), ns)

    await op.wait_for(lambda: op.status(ns, "daily-vcp").get("phase") == "Scheduled", "Scheduled")
    deployment = op.get(DEPLOYMENTS, ns, "daily-vcp-worker-scan")
    cronjob = op.get(CRONJOBS, ns, "daily-vcp")
    scaled = op.get(SCALED, ns, "daily-vcp-worker-scan")
    configmap = op.get(CONFIGMAPS, ns, "krstock-signalpolicies")
    assert deployment and cronjob and scaled and configmap
    for child in (deployment, cronjob, scaled):
        assert _owned_by(child, scanjob), child["metadata"]
        labels = child["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "krstock-operator"
        assert labels["app.kubernetes.io/instance"] == "daily-vcp"
        assert labels["app.kubernetes.io/part-of"] == "krstock"

    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["krstock", "worker", "--queues", "scan"]
    assert "replicas" not in deployment["spec"]  # KEDA owns the replica count
    assert scaled["spec"]["triggers"][0]["metadata"]["listName"] == "scan"
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (0, 3)
    assert cronjob["spec"]["schedule"] == "10 16 * * 1-5"
    assert cronjob["spec"]["timeZone"] == "Asia/Seoul"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    enqueue = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert enqueue["command"][:3] == ["python", "-m", "krstock_operator.enqueue"]
    assert enqueue["command"][enqueue["command"].index("--scanjob") + 1] == "t-create/daily-vcp"
    assert enqueue["command"][-4:] == [
        "--policy",
        "/etc/krstock/sp/krstock-default.json",
        "--param",
        "top_n=1000",
    ]
    # The namespace's policies ConfigMap belongs to the SignalPolicies, not to the ScanJob.
    assert json.loads(configmap["data"]["krstock-default.json"])["name"] == "krstock-default"
    (ref,) = configmap["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"]) == ("SignalPolicy", "krstock-default")

    status = op.status(ns, "daily-vcp")
    assert status["observedGeneration"] == 1
    assert status["nextRunAt"].endswith("Z")
    assert sorted(status["children"]) == [
        "CronJob/daily-vcp",
        "Deployment/daily-vcp-worker-scan",
        "ScaledObject/daily-vcp-worker-scan",
    ]
    assert op.condition(ns, "daily-vcp", "Ready")["status"] == "True"
    assert op.condition(ns, "daily-vcp", "Scheduled")["reason"] == "CronJobActive"
    assert op.condition(ns, "daily-vcp", "Degraded")["status"] == "False"
    # Level-triggered: a hand edit of a child is undone by the next resync.
    response = await op.server.client.patch(
        f"/apis/batch/v1/namespaces/{ns}/cronjobs/daily-vcp",
        json={"spec": {"schedule": "0 0 * * *", "suspend": True}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status == 200
    await op.wait_for(
        lambda: (
            (c := op.get(CRONJOBS, ns, "daily-vcp")["spec"])["schedule"] == "10 16 * * 1-5"
            and c["suspend"] is False
        ),
        "the drift repaired",
    )
    # No finalizer: nothing outside the cluster needs cleaning.
    assert not op.get(SCANJOBS, ns, "daily-vcp")["metadata"].get("finalizers")


async def test_updates_converge_children(op: Harness) -> None:
    ns = "t-update"
    await op.create(example("signalpolicy-default.yaml"), ns)
    await op.create(example("scanjob-daily-vcp.yaml"), ns)
    await op.wait_for(lambda: op.get(CRONJOBS, ns, "daily-vcp"), "CronJob")

    await op.patch_spec("ScanJob", ns, "daily-vcp", {"schedule": "30 8 * * 1-5"})
    await op.wait_for(
        lambda: op.get(CRONJOBS, ns, "daily-vcp")["spec"]["schedule"] == "30 8 * * 1-5", "schedule"
    )
    await op.wait_for(lambda: op.status(ns, "daily-vcp")["observedGeneration"] == 2, "generation")

    await op.patch_spec("ScanJob", ns, "daily-vcp", {"suspend": True})
    await op.wait_for(lambda: op.get(CRONJOBS, ns, "daily-vcp")["spec"]["suspend"] is True, "susp")
    await op.wait_for(lambda: op.status(ns, "daily-vcp")["phase"] == "Suspended", "Suspended")
    assert op.condition(ns, "daily-vcp", "Scheduled")["reason"] == "Suspended"
    assert "nextRunAt" not in op.status(ns, "daily-vcp")

    # A new queue: its worker and scaler appear, the unused queue's disappear (no orphans).
    await op.patch_spec("ScanJob", ns, "daily-vcp", {"queue": "ai"})
    await op.wait_for(lambda: op.get(DEPLOYMENTS, ns, "daily-vcp-worker-ai"), "heavy worker")
    await op.wait_for(
        lambda: (
            not op.get(DEPLOYMENTS, ns, "daily-vcp-worker-scan")
            and not op.get(SCALED, ns, "daily-vcp-worker-scan")
        ),
        "the scan queue's worker and scaler gone",
    )
    assert op.get(SCALED, ns, "daily-vcp-worker-ai")
    await op.patch_spec("ScanJob", ns, "daily-vcp", {"workers": {"maxReplicas": 5}})
    await op.wait_for(
        lambda: op.get(SCALED, ns, "daily-vcp-worker-ai")["spec"]["maxReplicaCount"] == 5,
        "KEDA max replicas 5",
    )

    # Workers: fixed replicas replace KEDA; then a CPU HPA replaces the fixed count.
    await op.patch_spec(
        "ScanJob", ns, "daily-vcp", {"workers": {"autoscaling": "none", "replicas": 3}}
    )
    await op.wait_for(
        lambda: op.get(DEPLOYMENTS, ns, "daily-vcp-worker-ai")["spec"].get("replicas") == 3,
        "3 replicas",
    )
    await op.wait_for(lambda: not op.get(SCALED, ns, "daily-vcp-worker-ai"), "no KEDA")
    await op.patch_spec(
        "ScanJob", ns, "daily-vcp", {"workers": {"autoscaling": "hpa", "concurrency": 4}}
    )
    hpa = await op.wait_for(lambda: op.get(HPAS, ns, "daily-vcp-worker-ai"), "HPA")
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    await op.patch_spec(
        "ScanJob", ns, "daily-vcp", {"workers": {"targetCPUUtilizationPercentage": 60}}
    )
    await op.wait_for(
        lambda: (
            op.get(HPAS, ns, "daily-vcp-worker-ai")["spec"]["metrics"][0]["resource"]["target"][
                "averageUtilization"
            ]
            == 60
        ),
        "HPA target 60%",
    )
    deployment = await op.wait_for(
        lambda: (
            (d := op.get(DEPLOYMENTS, ns, "daily-vcp-worker-ai"))
            and "replicas" not in d["spec"]
            and d
        ),
        "replicas handed to the HPA",
    )
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][:2] == [
        "--concurrency",
        "4",
    ]

    # Schedule removed: the CronJob goes, a run-once Job comes (suspended like the ScanJob).
    await op.patch_spec("ScanJob", ns, "daily-vcp", {"schedule": None})
    await op.wait_for(lambda: not op.get(CRONJOBS, ns, "daily-vcp"), "CronJob gone")
    jobs = await op.wait_for(lambda: op.all(JOBS, ns), "run-once Job")
    (job,) = jobs.values()
    assert job["spec"]["suspend"] is True
    await op.patch_spec("ScanJob", ns, "daily-vcp", {"suspend": False})
    await op.wait_for(
        lambda: op.get(JOBS, ns, job["metadata"]["name"])["spec"]["suspend"] is False, "resumed"
    )
    # Back to a schedule: the Job goes again.
    await op.patch_spec("ScanJob", ns, "daily-vcp", {"schedule": "0 9 * * *"})
    await op.wait_for(lambda: op.get(CRONJOBS, ns, "daily-vcp"), "CronJob back")
    await op.wait_for(lambda: not op.all(JOBS, ns), "Job gone")
    # Back to KEDA: the HPA goes, the ScaledObject returns.
    await op.patch_spec("ScanJob", ns, "daily-vcp", {"workers": {"autoscaling": "auto"}})
    await op.wait_for(lambda: not op.get(HPAS, ns, "daily-vcp-worker-ai"), "HPA gone")
    await op.wait_for(lambda: op.get(SCALED, ns, "daily-vcp-worker-ai"), "KEDA back")
    await op.wait_for(lambda: op.condition(ns, "daily-vcp", "Ready").get("status") == "True", "ok")


async def test_policy_change_reaches_the_workers(op: Harness) -> None:
    ns = "t-policy"
    await op.create(example("signalpolicy-default.yaml"), ns)
    await op.create(example("scanjob-daily-vcp.yaml"), ns)
    configmap = await op.wait_for(
        lambda: op.get(CONFIGMAPS, ns, "krstock-signalpolicies"), "ConfigMap"
    )
    deployment = await op.wait_for(
        lambda: op.get(DEPLOYMENTS, ns, "daily-vcp-worker-scan"), "worker"
    )
    digest = deployment["spec"]["template"]["metadata"]["annotations"][POLICY_DIGEST_ANNOTATION]
    assert json.loads(configmap["data"]["krstock-default.json"])["vcp"]["min_contractions"] == 2

    await op.patch_spec(
        "SignalPolicy", ns, "krstock-default", {"extends": "p10", "vcp": {"min_contractions": 3}}
    )
    configmap = await op.wait_for(
        lambda: (
            (c := op.get(CONFIGMAPS, ns, "krstock-signalpolicies"))
            and json.loads(c["data"]["krstock-default.json"])["vcp"]["min_contractions"] == 3
            and c
        ),
        "the new policy in the ConfigMap",
    )
    policy = json.loads(configmap["data"]["krstock-default.json"])
    assert policy["extends"] == "p10"
    assert policy["vcp_legacy"]["volume_check"] is True  # from the p10 preset
    deployment = await op.wait_for(
        lambda: (
            (d := op.get(DEPLOYMENTS, ns, "daily-vcp-worker-scan"))
            and d["spec"]["template"]["metadata"]["annotations"][POLICY_DIGEST_ANNOTATION] != digest
            and d
        ),
        "a worker rollout (new policy digest)",
    )
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "policies",
        "configMap": {"name": "krstock-signalpolicies", "optional": True},
    } in volumes
    # A second policy joins the same ConfigMap; deleting it takes its key out again.
    second = example("signalpolicy-tighter-vcp.yaml")
    await op.create(second, ns)
    await op.wait_for(
        lambda: "tighter-vcp.json" in op.get(CONFIGMAPS, ns, "krstock-signalpolicies")["data"],
        "the second policy's file",
    )
    await op.delete("signalpolicies", ns, "tighter-vcp")
    await op.wait_for(
        lambda: "tighter-vcp.json" not in op.get(CONFIGMAPS, ns, "krstock-signalpolicies")["data"],
        "the deleted policy's file gone",
    )
    await op.wait_for(
        lambda: (
            (op.get(POLICIES, ns, "krstock-default") or {}).get("status", {}).get("usedBy") == 1
        ),
        "policy status usedBy",
    )
    # Someone deletes the policies ConfigMap: the resync writes it again.
    response = await op.server.client.delete(
        f"/api/v1/namespaces/{ns}/configmaps/krstock-signalpolicies"
    )
    assert response.status == 200
    await op.wait_for(lambda: op.get(CONFIGMAPS, ns, "krstock-signalpolicies"), "ConfigMap back")
    # A ScanJob that stops referencing it: the resync brings usedBy down.
    await op.patch_spec("ScanJob", ns, "daily-vcp", {"policyRef": None})
    await op.wait_for(
        lambda: (
            (op.get(POLICIES, ns, "krstock-default") or {}).get("status", {}).get("scanJobs") == []
        ),
        "policy no longer used",
    )


async def test_missing_policy_is_a_condition_and_an_event_then_recovers(op: Harness) -> None:
    ns = "t-missing"
    await op.create(example("scanjob-closing-bet-once.yaml"), ns)
    await op.wait_for(lambda: op.status(ns, "closing-bet-now").get("phase") == "Blocked", "Blocked")
    ready = op.condition(ns, "closing-bet-now", "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PolicyNotFound")
    assert "krstock-default" in ready["message"]
    events = await op.wait_for(
        lambda: [e for e in op.events(ns, "closing-bet-now") if e["reason"] == "PolicyNotFound"],
        "a PolicyNotFound event",
    )
    assert events[0]["type"] == "Warning"
    assert not op.all(JOBS, ns) and not op.all(DEPLOYMENTS, ns)  # nothing runs without it
    # Resyncs keep the condition but do not repeat the event (no storm).
    before = metrics.RECONCILES.labels(trigger="resync", result="problem")._value.get()
    await op.wait_for(
        lambda: (
            metrics.RECONCILES.labels(trigger="resync", result="problem")._value.get() >= before + 2
        ),
        "two more resyncs",
    )
    warnings = [e for e in op.events(ns, "closing-bet-now") if e["reason"] == "PolicyNotFound"]
    assert len(warnings) == 1

    await op.create(example("signalpolicy-default.yaml"), ns)
    await op.wait_for(
        lambda: op.condition(ns, "closing-bet-now", "Ready").get("status") == "True", "Ready"
    )
    job = await op.wait_for(lambda: op.all(JOBS, ns), "the run-once Job")
    (job,) = job.values()
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--kind") + 1] == "closing_bet"
    assert command[command.index("--policy") + 1] == "/etc/krstock/sp/krstock-default.json"
    assert op.status(ns, "closing-bet-now")["phase"] == "Pending"
    assert any(e["reason"] == "Reconciled" for e in op.events(ns, "closing-bet-now"))


async def test_api_down_is_degraded_then_recovers(op: Harness) -> None:
    ns = "t-api"
    await op.create(example("signalpolicy-default.yaml"), ns)
    op.api.runs[f"{ns}/closing-bet-now"] = [
        {
            "id": "run-1",
            "status": "SUCCEEDED",
            "created_at": "2026-11-26T06:19:58.120000+00:00",
            "started_at": "2026-11-26T06:20:00+00:00",
            "finished_at": "2026-11-26T06:21:30+00:00",
            "counts": {"signals": 7},
        }
    ]
    await op.create(example("scanjob-closing-bet-once.yaml"), ns)
    await op.wait_for(lambda: op.status(ns, "closing-bet-now").get("phase") == "Succeeded", "done")
    assert op.status(ns, "closing-bet-now")["lastRun"] == {
        "id": "run-1",
        "state": "SUCCEEDED",
        "startedAt": "2026-11-26T06:20:00Z",
        "finishedAt": "2026-11-26T06:21:30Z",
        "signals": 7,
    }

    await op.api.stop()
    degraded = await op.wait_for(
        lambda: (
            (c := op.condition(ns, "closing-bet-now", "Degraded")).get("status") == "True" and c
        ),
        "Degraded",
    )
    assert degraded["reason"] == "ApiUnreachable"
    assert op.status(ns, "closing-bet-now")["lastRun"]["signals"] == 7  # kept, not erased
    await op.wait_for(
        lambda: any(e["reason"] == "ApiUnreachable" for e in op.events(ns, "closing-bet-now")),
        "an ApiUnreachable event",
    )

    op.api.runs[f"{ns}/closing-bet-now"].append(
        {
            "id": "run-2",
            "status": "RUNNING",
            "created_at": "2026-11-27T06:19:59+00:00",
            "started_at": "2026-11-27T06:20:00+00:00",
            "finished_at": None,
            "counts": {},
        }
    )
    await op.api.start()
    await op.wait_for(
        lambda: op.condition(ns, "closing-bet-now", "Degraded").get("status") == "False",
        "recovery",
    )
    status = op.status(ns, "closing-bet-now")
    assert status["phase"] == "Running"
    assert status["lastRun"]["id"] == "run-2"


async def test_delete_leaves_children_to_the_garbage_collector(op: Harness) -> None:
    ns = "t-delete"
    await op.create(example("signalpolicy-default.yaml"), ns)
    scanjob = await op.create(example("scanjob-daily-pipeline.yaml"), ns)
    await op.wait_for(
        lambda: len(op.status(ns, "daily-pipeline").get("children", [])) == 9, "all children"
    )
    deployments = op.all(DEPLOYMENTS, ns).values()
    queues = {d["metadata"]["labels"]["krstock.io/queue"] for d in deployments}
    assert queues == {"maintenance", "collect", "scan", "ai"}
    children = [
        *op.all(DEPLOYMENTS, ns).values(),
        *op.all(SCALED, ns).values(),
        *op.all(CRONJOBS, ns).values(),
    ]
    await op.delete("scanjobs", ns, "daily-pipeline")
    # Gone at once (no finalizer to wait for); every child points at it for the collector.
    await op.wait_for(lambda: op.get(SCANJOBS, ns, "daily-pipeline") is None, "deleted")
    assert len(children) == 9
    assert all(_owned_by(child, scanjob) for child in children)


async def test_liveness_and_metrics(op: Harness) -> None:
    assert await _liveness_status(op.liveness_url) == 200  # type: ignore[attr-defined]
    ns = "t-metrics"
    await op.create(example("signalpolicy-default.yaml"), ns)
    await op.create(example("scanjob-daily-vcp.yaml"), ns)
    await op.wait_for(lambda: op.status(ns, "daily-vcp").get("phase") == "Scheduled", "ready")
    assert metrics.MANAGED.labels(kind="Deployment")._value.get() == 1, metrics._children
    assert metrics.MANAGED.labels(kind="ScaledObject")._value.get() == 1
    assert metrics.SCANJOBS.labels(phase="Scheduled")._value.get() == 1
    assert metrics.RECONCILES.labels(trigger="create", result="ok")._value.get() >= 1
    assert metrics.DURATION._sum.get() > 0
    await op.delete("scanjobs", ns, "daily-vcp")  # the deletion event ends its bookkeeping
    await op.wait_for(
        lambda: metrics.MANAGED.labels(kind="Deployment")._value.get() == 0, "0 managed"
    )
    assert metrics.SCANJOBS.labels(phase="Scheduled")._value.get() == 0


async def _liveness_status(url: str, timeout_s: float = 10.0) -> int:
    """The liveness endpoint's status once it listens (a just-started operator opens it a
    moment after its first handlers run)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    return response.status
            except aiohttp.ClientConnectorError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)


def _used(requests: list[Any]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) of every request the operator (not the test) made."""
    verbs = {"list": "list", "watch": "watch", "fetch": "get", "create": "create"}
    used = set()
    for request in requests:
        agent = request.headers.get("User-Agent", "")
        if agent.startswith("kmock") or request.action is None:
            continue  # the test's own requests
        if request.resource is None or not request.resource.plural:
            continue  # discovery: allowed to every user (system:discovery)
        action = str(request.action.value).lower()
        verb = verbs.get(action, action)
        if request.method.value.upper() == "PATCH":
            verb = "patch"
        resource = request.resource.plural
        if request.subresource:
            resource = f"{resource}/{request.subresource}"
        used.add((request.resource.group or "", resource or "", verb))
    return used


async def test_rbac_grants_exactly_what_the_operator_used(op: Harness) -> None:
    """Runs last: by now the module exercised every verb on every kind."""
    used = _used([*EARLIER_REQUESTS, *op.requests()])
    granted = rbac.granted(rbac.RULES)
    assert used <= granted, sorted(used - granted)
    assert not granted - used, sorted(granted - used)  # nothing granted that is never used
