"""The real Kopf loop in a cluster without KEDA: fixed replicas or a CPU HPA, and run-once Jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from operator_harness import Harness, example, running_operator

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEPLOYMENTS = "apps/v1/deployments"
JOBS = "batch/v1/jobs"
HPAS = "autoscaling/v2/horizontalpodautoscalers"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def op() -> AsyncIterator[Harness]:
    async with running_operator(keda=False) as harness:
        yield harness


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def _cleanup(op: Harness) -> AsyncIterator[None]:
    yield
    await op.cleanup()


async def test_without_keda_workers_get_a_fixed_replica_count(op: Harness) -> None:
    ns = "nk-fixed"
    await op.create(example("signalpolicy-default.yaml"), ns)
    await op.create(example("scanjob-daily-vcp.yaml"), ns)
    await op.wait_for(lambda: op.status(ns, "daily-vcp").get("phase") == "Scheduled", "Scheduled")
    deployment = op.get(DEPLOYMENTS, ns, "daily-vcp-worker-scan")
    assert deployment is not None and deployment["spec"]["replicas"] == 1
    assert "ScaledObject/daily-vcp-worker-scan" not in op.status(ns, "daily-vcp")["children"]
    assert op.condition(ns, "daily-vcp", "Degraded")["status"] == "False"
    # The operator never touched a ScaledObject endpoint in this cluster.
    assert not [r for r in op.requests() if "scaledobjects" in str(r.url)]

    # Asking for KEDA explicitly where it is absent: fixed replicas, and a condition saying why.
    await op.patch_spec(
        "ScanJob", ns, "daily-vcp", {"workers": {"autoscaling": "keda", "replicas": 2}}
    )
    degraded = await op.wait_for(
        lambda: (c := op.condition(ns, "daily-vcp", "Degraded")).get("status") == "True" and c,
        "Degraded: KEDA unavailable",
    )
    assert degraded["reason"] == "KedaUnavailable"
    await op.wait_for(
        lambda: op.get(DEPLOYMENTS, ns, "daily-vcp-worker-scan")["spec"]["replicas"] == 2, "2"
    )
    await op.wait_for(
        lambda: any(e["reason"] == "KedaUnavailable" for e in op.events(ns, "daily-vcp")), "event"
    )

    # The CPU HPA works without KEDA; going back to fixed replicas removes it.
    await op.patch_spec("ScanJob", ns, "daily-vcp", {"workers": {"autoscaling": "hpa"}})
    await op.wait_for(lambda: op.get(HPAS, ns, "daily-vcp-worker-scan"), "HPA")
    await op.patch_spec("ScanJob", ns, "daily-vcp", {"workers": {"autoscaling": "none"}})
    await op.wait_for(lambda: not op.get(HPAS, ns, "daily-vcp-worker-scan"), "HPA removed")
    # Dropping the policyRef: built-in defaults from then on (runs carry no policy file).
    await op.patch_spec("ScanJob", ns, "daily-vcp", {"policyRef": None})
    deployment = await op.wait_for(
        lambda: (
            (d := op.get(DEPLOYMENTS, ns, "daily-vcp-worker-scan"))
            and "KRSTOCK_POLICY_FILE"
            not in {e["name"] for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
            and d
        ),
        "workers without a policy file",
    )
    # The CronJob is patched by the same handler, after the Deployment: wait for it too.
    await op.wait_for(
        lambda: (
            (cron := op.get("batch/v1/cronjobs", ns, "daily-vcp"))
            and "--policy"
            not in cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
                "command"
            ]
        ),
        "a CronJob whose runs carry no --policy",
    )
    # The namespace's policies stay available to every worker.
    assert deployment["spec"]["template"]["spec"]["volumes"][-1]["name"] == "policies"
    # The last SignalPolicy of the namespace deleted: its ConfigMap goes too.
    await op.delete("signalpolicies", ns, "krstock-default")
    await op.wait_for(
        lambda: not op.get("v1/configmaps", ns, "krstock-signalpolicies"), "no policies ConfigMap"
    )


async def test_run_once_job_is_not_repeated_after_it_is_gone(op: Harness) -> None:
    ns = "nk-once"
    await op.create(example("signalpolicy-default.yaml"), ns)
    op.api.runs[f"{ns}/closing-bet-now"] = [
        {
            "id": "run-9",
            "status": "FAILED",
            "created_at": "2026-11-26T06:19:59+00:00",
            "started_at": "2026-11-26T06:20:00Z",
            "finished_at": "2026-11-26T06:20:05Z",
            "counts": {"signals": 0},
        }
    ]
    await op.create(example("scanjob-closing-bet-once.yaml"), ns)
    await op.wait_for(lambda: op.status(ns, "closing-bet-now").get("phase") == "Failed", "Failed")
    degraded = op.condition(ns, "closing-bet-now", "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "LastRunFailed")
    (job_name,) = op.all(JOBS, ns)
    assert op.status(ns, "closing-bet-now")["runOnce"]["job"] == job_name

    # The Job's TTL (or a person) removes it: the run is not enqueued a second time.
    response = await op.server.client.delete(f"/apis/batch/v1/namespaces/{ns}/jobs/{job_name}")
    assert response.status == 200
    before = len(op.api.requests)
    await op.wait_for(lambda: len(op.api.requests) >= before + 3, "a few resyncs")
    assert not op.all(JOBS, ns)

    # A changed run (another market) is a new run: a new Job.
    await op.patch_spec("ScanJob", ns, "closing-bet-now", {"universe": {"markets": ["KOSPI"]}})
    jobs = await op.wait_for(lambda: op.all(JOBS, ns), "a new Job")
    assert list(jobs) != [job_name]
