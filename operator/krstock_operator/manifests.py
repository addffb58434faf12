"""Pure builders of every object the operator manages for a ScanJob, and the desired set of them.

No I/O here: ``desired_children`` takes the ScanJob (owner + parsed spec) and what the operator
knows about the cluster (KEDA present? the resolved SignalPolicy) and returns plain manifests.

Policy delivery (the documented choice): every SignalPolicy of a namespace, validated and completed
by the shared model, is a key ``<policy>.json`` of one ConfigMap ``krstock-signalpolicies`` owned by
those SignalPolicies. Every worker mounts it at ``/etc/krstock/sp`` (optional, so it may not exist
yet), and a run is started with ``/etc/krstock/sp/<policy>.json`` as its policy: whichever worker of
the namespace picks the task up (tasks are routed to shared queues by name) can read the rules the
run asked for. The worker pod template carries the referenced policy's digest, so a policy change
rolls the ScanJob's workers at once instead of waiting for the kubelet to refresh the mount.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from krstock_operator import API_VERSION, __version__
from krstock_operator.config import OperatorSettings
from krstock_operator.scanjob_schema import RUN_KINDS, SCANNERS
from krstock_operator.spec import ScanJobSpec

MANAGED_BY = "krstock-operator"
SCANJOB_LABEL = "krstock.io/scanjob"
QUEUE_LABEL = "krstock.io/queue"
POLICY_DIGEST_ANNOTATION = "krstock.io/policy-sha256"
POLICY_DIR = "/etc/krstock/sp"  # short: the API keeps a run's policy in 64 characters
POLICIES_CONFIGMAP = "krstock-signalpolicies"
DEFAULT_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"memory": "2Gi"},
}


@dataclass(frozen=True)
class Owner:
    """The ScanJob that owns the children."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class PolicyDoc:
    """A resolved SignalPolicy: its name, the complete policy JSON and the JSON's digest."""

    name: str
    data: str
    digest: str


@dataclass(frozen=True)
class ClusterContext:
    settings: OperatorSettings
    keda_available: bool
    policy: PolicyDoc | None = None
    # The run-once Job for the current spec hash was already created once (status.runOnce):
    # do not create it again when it is gone (TTL), or the run would repeat.
    run_once_done: bool = False


def labels(owner: Owner, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "krstock",
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "krstock",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/version": __version__,
        SCANJOB_LABEL: owner.name,
    }


def owner_reference(owner: Owner) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ScanJob",
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(
    owner: Owner, name: str, component: str, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": {**labels(owner, component), **(extra or {})},
        "ownerReferences": [owner_reference(owner)],
    }


def worker_name(owner: Owner, queue: str) -> str:
    return f"{owner.name}-worker-{queue}"


def policy_file(policy_name: str) -> str:
    return f"{POLICY_DIR}/{policy_name}.json"


def run_job_name(owner: Owner, spec: ScanJobSpec) -> str:
    return f"{owner.name}-run-{spec.run_hash()}"


def autoscaler_kind(spec: ScanJobSpec, keda_available: bool) -> str:
    """``keda``, ``hpa`` or ``none`` (fixed replicas) for this spec in this cluster."""
    mode = spec.workers.autoscaling
    if mode in ("auto", "keda"):
        return "keda" if keda_available else "none"
    return mode


def _env_from(settings: OperatorSettings) -> list[dict[str, Any]]:
    sources: list[dict[str, Any]] = []
    if settings.env_configmap:
        sources.append({"configMapRef": {"name": settings.env_configmap, "optional": True}})
    if settings.env_secret:
        sources.append({"secretRef": {"name": settings.env_secret, "optional": True}})
    return sources


def _security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}}


Objs = list[dict[str, Any]]


def _volumes(owner: Owner, ctx: ClusterContext) -> tuple[Objs, Objs]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    # Every policy of the namespace: a run of another ScanJob may land on this worker.
    volumes.append(
        {"name": "policies", "configMap": {"name": POLICIES_CONFIGMAP, "optional": True}}
    )
    mounts.append({"name": "policies", "mountPath": POLICY_DIR, "readOnly": True})
    return volumes, mounts


def _common_env(owner: Owner, ctx: ClusterContext) -> list[dict[str, Any]]:
    env = [{"name": "KRSTOCK_SCANJOB", "value": f"{owner.namespace}/{owner.name}"}]
    if ctx.policy is not None:
        env.append({"name": "KRSTOCK_POLICY_FILE", "value": policy_file(ctx.policy.name)})
        env.append({"name": "KRSTOCK_POLICY_NAME", "value": ctx.policy.name})
    return env


def _pod_spec_extras(settings: OperatorSettings) -> dict[str, Any]:
    # Workers and enqueue pods never call the Kubernetes API: no token in them.
    extras: dict[str, Any] = {
        "securityContext": _pod_security(),
        "automountServiceAccountToken": False,
    }
    if settings.worker_service_account:
        extras["serviceAccountName"] = settings.worker_service_account
    return extras


def worker_deployment(
    owner: Owner, spec: ScanJobSpec, queue: str, ctx: ClusterContext
) -> dict[str, Any]:
    """``krstock worker --queues Q``; replicas only when no autoscaler owns them."""
    settings = ctx.settings
    selector = {
        "app.kubernetes.io/name": "krstock",
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": "worker",
        QUEUE_LABEL: queue,
    }
    volumes, mounts = _volumes(owner, ctx)
    heartbeat = settings.worker_heartbeat_file
    env = [
        *_common_env(owner, ctx),
        {"name": "KRSTOCK_WORKER_HEARTBEAT_FILE", "value": heartbeat},
        {"name": "KRSTOCK_WORKER_READY_FILE", "value": settings.worker_ready_file},
    ]
    annotations = {POLICY_DIGEST_ANNOTATION: ctx.policy.digest if ctx.policy else "defaults"}
    args = ["--concurrency", str(spec.workers.concurrency)]
    if settings.worker_metrics_port:
        args += ["--metrics-port", str(settings.worker_metrics_port)]
        # The same port for the worker's own settings (its metrics server reads this name).
        env.append(
            {"name": "KRSTOCK_WORKER_METRICS_PORT", "value": str(settings.worker_metrics_port)}
        )
        annotations["prometheus.io/scrape"] = "true"
        annotations["prometheus.io/port"] = str(settings.worker_metrics_port)
    container: dict[str, Any] = {
        "name": "worker",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["krstock", "worker", "--queues", queue],
        "args": args,
        "env": env,
        "resources": spec.workers.resources or DEFAULT_RESOURCES,
        "volumeMounts": mounts,
        "securityContext": _security_context(),
        "livenessProbe": {
            "exec": {
                "command": [
                    "sh",
                    "-c",
                    f'test $(( $(date +%s) - $(stat -c %Y "{heartbeat}") )) '
                    f"-lt {settings.worker_heartbeat_max_age_s}",
                ]
            },
            "initialDelaySeconds": 30,
            "periodSeconds": 30,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "exec": {"command": ["test", "-f", settings.worker_ready_file]},
            "periodSeconds": 10,
        },
    }
    env_from = _env_from(settings)
    if env_from:
        container["envFrom"] = env_from
    if settings.worker_metrics_port:
        container["ports"] = [
            {"name": "metrics", "containerPort": settings.worker_metrics_port, "protocol": "TCP"}
        ]
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {
                "labels": {**labels(owner, "worker"), QUEUE_LABEL: queue},
                "annotations": annotations,
            },
            "spec": {
                **_pod_spec_extras(settings),
                # Longer than a task may run, so a rollout lets the running task finish.
                "terminationGracePeriodSeconds": spec.run_deadline_s + 60,
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    if autoscaler_kind(spec, ctx.keda_available) == "none":
        deployment_spec["replicas"] = spec.workers.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(owner, worker_name(owner, queue), "worker", {QUEUE_LABEL: queue}),
        "spec": deployment_spec,
    }


def scaled_object(
    owner: Owner, spec: ScanJobSpec, queue: str, ctx: ClusterContext
) -> dict[str, Any]:
    """KEDA's redis list scaler on the Celery queue (a Redis list named like the queue)."""
    settings = ctx.settings
    trigger: dict[str, Any] = {
        "type": "redis",
        "metadata": {
            "address": settings.redis_address,
            "listName": queue,
            "listLength": str(spec.workers.queue_length_target),
            "activationListLength": "0",
            "databaseIndex": str(settings.redis_database),
        },
    }
    if settings.keda_authentication_ref:
        trigger["authenticationRef"] = {"name": settings.keda_authentication_ref}
    name = worker_name(owner, queue)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _metadata(owner, name, "autoscaler", {QUEUE_LABEL: queue}),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": spec.workers.min_replicas,
            "maxReplicaCount": spec.workers.max_replicas,
            "pollingInterval": 15,
            # Scale to zero only well after the queue drains (a run may still be finishing).
            "cooldownPeriod": max(300, spec.run_deadline_s),
            "triggers": [trigger],
        },
    }


def worker_hpa(owner: Owner, spec: ScanJobSpec, queue: str) -> dict[str, Any]:
    name = worker_name(owner, queue)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(owner, name, "autoscaler", {QUEUE_LABEL: queue}),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": max(1, spec.workers.min_replicas),
            "maxReplicas": spec.workers.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": spec.workers.target_cpu_percent,
                        },
                    },
                }
            ],
        },
    }


# Scanners whose runs honour a ScanJob's universe markets and top N (krstock.app.scans.run_scan).
SCANNERS_WITH_UNIVERSE = frozenset({"vcp", "vcp-legacy", "trend-template", "closing-bet"})
DEFAULT_MARKETS = frozenset({"KOSPI", "KOSDAQ"})
# Scanners whose scheduled runs belong to a trading day (a backtest runs on any day).
TRADING_DAY_SCANNERS = frozenset(SCANNERS) - {"backtest"}


def enqueue_command(owner: Owner, spec: ScanJobSpec, ctx: ClusterContext) -> list[str]:
    """Start one run through the API (``POST /api/v1/runs``): the pod only enqueues.

    The API records the run with ``scanjob=NAMESPACE/NAME`` (the status reads it back) and routes
    the task to its queue by name.
    """
    command = [
        "python",
        "-m",
        "krstock_operator.enqueue",
        "--api",
        ctx.settings.api_url,
        "--kind",
        RUN_KINDS[spec.scanner],
        "--scanjob",
        f"{owner.namespace}/{owner.name}",
    ]
    if spec.scheduled and spec.scanner in TRADING_DAY_SCANNERS:
        # A scheduled run on a closed market is skipped by the pod (exit 0), not started.
        command += ["--skip-closed-days", "--time-zone", spec.time_zone]
        if spec.scanner == "collect":
            command += ["--date", "today"]  # today's prices, not the newest day already stored
    if ctx.policy is not None:
        command += ["--policy", policy_file(ctx.policy.name)]
    if spec.tickers:  # scans and collect narrow to these; kept on the run record
        command += ["--tickers", ",".join(spec.tickers)]
    if spec.scanner in SCANNERS_WITH_UNIVERSE:
        # The default markets (KOSPI and KOSDAQ) mean "the whole market": not sent, so sources
        # that do not know a ticker's market (a pykrx CSV folder) are not filtered empty.
        if set(spec.markets) - DEFAULT_MARKETS or (spec.markets and len(spec.markets) == 1):
            command += ["--param", f"markets={','.join(spec.markets)}"]
        if spec.top_by_trading_value:
            command += ["--param", f"top_n={spec.top_by_trading_value}"]
    for key, value in sorted(spec.parameters.items()):
        command += ["--param", f"{key}={value}"]
    return command


def _enqueue_job_spec(owner: Owner, spec: ScanJobSpec, ctx: ClusterContext) -> dict[str, Any]:
    settings = ctx.settings
    container: dict[str, Any] = {
        "name": "enqueue",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": enqueue_command(owner, spec, ctx),
        "env": _common_env(owner, ctx),
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": _security_context(),
    }
    env_from = _env_from(settings)
    if env_from:
        container["envFrom"] = env_from
    return {
        "backoffLimit": 2,
        "activeDeadlineSeconds": 300,
        "ttlSecondsAfterFinished": 86400,
        "template": {
            "metadata": {"labels": labels(owner, "enqueue")},
            "spec": {
                **_pod_spec_extras(settings),
                "restartPolicy": "Never",
                "containers": [container],
            },
        },
    }


def cron_job(owner: Owner, spec: ScanJobSpec, ctx: ClusterContext) -> dict[str, Any]:
    assert spec.schedule is not None
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(owner, owner.name, "schedule"),
        "spec": {
            "schedule": spec.schedule,
            "timeZone": spec.time_zone,
            "suspend": spec.suspend,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": spec.starting_deadline_s,
            "successfulJobsHistoryLimit": spec.successful_history,
            "failedJobsHistoryLimit": spec.failed_history,
            "jobTemplate": {
                "metadata": {"labels": labels(owner, "enqueue")},
                "spec": _enqueue_job_spec(owner, spec, ctx),
            },
        },
    }


def run_job(owner: Owner, spec: ScanJobSpec, ctx: ClusterContext) -> dict[str, Any]:
    """The run-once Job (suspended while the ScanJob is)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(owner, run_job_name(owner, spec), "run"),
        "spec": {**_enqueue_job_spec(owner, spec, ctx), "suspend": spec.suspend},
    }


def policies_configmap(namespace: str, policies: list[tuple[PolicyDoc, str]]) -> dict[str, Any]:
    """The namespace's SignalPolicies as files, owned by them: ``(document, uid)`` pairs."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": POLICIES_CONFIGMAP,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "krstock",
                "app.kubernetes.io/component": "signalpolicies",
                "app.kubernetes.io/part-of": "krstock",
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "app.kubernetes.io/version": __version__,
            },
            # Not a controller reference: the ConfigMap goes when its last SignalPolicy does.
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "SignalPolicy",
                    "name": doc.name,
                    "uid": uid,
                    "blockOwnerDeletion": False,
                }
                for doc, uid in sorted(policies, key=lambda p: p[0].name)
            ],
        },
        "data": {
            f"{doc.name}.json": doc.data for doc, _ in sorted(policies, key=lambda p: p[0].name)
        },
    }


def desired_children(owner: Owner, spec: ScanJobSpec, ctx: ClusterContext) -> list[dict[str, Any]]:
    """Everything that should exist for this ScanJob now; anything else it owns is an orphan."""
    children: list[dict[str, Any]] = []
    scaler = autoscaler_kind(spec, ctx.keda_available)
    for queue in spec.queues:
        children.append(worker_deployment(owner, spec, queue, ctx))
        if scaler == "keda":
            children.append(scaled_object(owner, spec, queue, ctx))
        elif scaler == "hpa":
            children.append(worker_hpa(owner, spec, queue))
    if spec.scheduled:
        children.append(cron_job(owner, spec, ctx))
    elif not ctx.run_once_done:
        children.append(run_job(owner, spec, ctx))
    return children
