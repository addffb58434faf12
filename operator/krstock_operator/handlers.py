"""Kopf handlers: every ScanJob trigger calls the one ``reconcile``; SignalPolicy changes fan out.

Run with ``python -m krstock_operator`` (or ``kopf run --standalone -A handlers.py``). There is no
finalizer: children are garbage-collected through their owner references and nothing outside the
cluster needs cleaning, so deletions only need bookkeeping. The periodic resync is a task of our
own instead of ``@kopf.timer``, because Kopf puts a finalizer on every object that has a timer;
deletions are watched as events, because without a finalizer Kopf runs no delete handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import kopf
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client import start_http_server

from krstock_operator import GROUP, VERSION, metrics
from krstock_operator.config import OperatorSettings, get_settings
from krstock_operator.converge import converge
from krstock_operator.kube import Kube, make_api_client
from krstock_operator.manifests import POLICIES_CONFIGMAP, Owner, policies_configmap
from krstock_operator.policy import PolicyProblem, policy_document
from krstock_operator.reconcile import Result, reconcile
from krstock_operator.runs import RunsClient

log = logging.getLogger("krstock_operator")


class _State:
    """Process-wide clients, created at startup and closed at cleanup."""

    settings: OperatorSettings
    kube: Kube
    runs: RunsClient
    scanjobs: Any = None  # the scanjob_bodies index (live)
    policies: Any = None  # the signalpolicy_specs index (live)
    resync: asyncio.Task[None] | None = None
    locks: dict[tuple[str, str], asyncio.Lock]
    # Per ScanJob uid: the newest generation reconciled and the status computed for it. Triggers
    # race (an update event and a resync round), so a stale copy must neither undo a newer spec
    # nor re-announce a condition already announced.
    generations: dict[str, int]
    statuses: dict[str, dict[str, Any]]
    deleted: set[str]  # uids seen deleted: a resync still holding a copy must not revive them


STATE = _State()
STATE.locks, STATE.generations, STATE.statuses, STATE.deleted = {}, {}, {}, set()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    settings = get_settings()
    if settings.kube_url:
        return kopf.ConnectionInfo(server=settings.kube_url, scheme=None)
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
    ours = get_settings()
    settings.posting.level = logging.WARNING  # our own events say what matters; skip the chatter
    # Watches behind load balancers can die silently: let the server end them and reconnect.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    STATE.settings = ours
    STATE.kube = Kube(await make_api_client(ours), keda_cache_s=ours.keda_cache_s)
    STATE.runs = RunsClient(ours.api_url, ours.api_key, ours.api_timeout_s)
    STATE.scanjobs = kwargs["scanjob_bodies"]  # the live indexes below
    STATE.policies = kwargs["signalpolicy_specs"]
    STATE.locks, STATE.generations, STATE.statuses, STATE.deleted = {}, {}, {}, set()
    if ours.metrics_port:
        start_http_server(ours.metrics_port, registry=metrics.REGISTRY)
    STATE.resync = asyncio.create_task(_resync_forever(ours.resync_seconds))


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if STATE.resync is not None:
        STATE.resync.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await STATE.resync
    await STATE.kube.api.close()


@kopf.index(GROUP, VERSION, "scanjobs")
def scanjob_bodies(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {(namespace, name): _plain(body)}


@kopf.index(GROUP, VERSION, "signalpolicies")
def signalpolicy_specs(
    namespace: str | None, name: str, uid: str, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[Any, Any]:
    return {(namespace, name): {"uid": uid, "spec": _plain(spec), "status": _plain(status)}}


def _plain(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _policy_entries() -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, name) -> {"uid", "spec"} of every SignalPolicy (from the live index)."""
    index = STATE.policies
    if index is None:
        return {}
    return {key: next(iter(index[key])) for key in list(index) if len(index[key])}


def _known_policies() -> dict[tuple[str, str], dict[str, Any]]:
    return {key: entry["spec"] for key, entry in _policy_entries().items()}


async def _sync_policies(namespace: str, gone: str | None = None) -> None:
    """Write the namespace's policies ConfigMap (every valid SignalPolicy, owned by them all)."""
    documents = []
    for (ns, name), entry in sorted(_policy_entries().items()):
        if ns != namespace or name == gone:
            continue
        try:
            documents.append((policy_document(name, entry["spec"]), entry["uid"]))
        except PolicyProblem as problem:  # its ScanJobs report PolicyInvalid
            log.warning("%s", problem.message)
    existing = await STATE.kube.list_policies_configmaps(namespace)
    holder = Owner(namespace=namespace, name=POLICIES_CONFIGMAP, uid="")
    desired = [policies_configmap(namespace, documents)] if documents else []
    outcome = await converge(STATE.kube, holder, desired, {"ConfigMap": existing})
    for error in outcome.errors:
        log.warning("policies ConfigMap in %s: %s", namespace, error)


async def _reconcile_locked(body: dict[str, Any], trigger: str) -> Result | None:
    """Reconcile under the object's lock; None when ``body`` is older than one already done."""
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    uid = str(meta.get("uid"))
    lock = STATE.locks.setdefault(key, asyncio.Lock())
    async with lock:
        generation = int(meta.get("generation") or 0)
        if uid in STATE.deleted or generation < STATE.generations.get(uid, 0):
            return None
        if uid in STATE.statuses:  # our own latest status may not be in this copy yet
            body = {**body, "status": {**(body.get("status") or {}), **STATE.statuses[uid]}}
        try:
            result = await reconcile(
                body,
                kube=STATE.kube,
                runs=STATE.runs,
                settings=STATE.settings,
                policies=_known_policies(),
            )
        except Exception:
            metrics.RECONCILES.labels(trigger=trigger, result="error").inc()
            metrics.ERRORS.labels(kind="unexpected").inc()
            raise
        if uid in STATE.deleted:  # deleted while we worked: nothing to remember
            return None
        STATE.generations[uid] = generation
        STATE.statuses[uid] = result.status
        metrics.record_state(
            key,
            result.status.get("children", []),
            result.status["phase"],
            result.status.get("conditions"),
            result.status.get("nextRunAt"),
        )
        ok = all(c["status"] == "True" for c in result.status["conditions"] if c["type"] == "Ready")
        metrics.RECONCILES.labels(trigger=trigger, result="ok" if ok else "problem").inc()
        for event_type, reason, message in result.events:
            try:
                await STATE.kube.post_event(body, event_type, reason, message)
            except ApiException as exc:
                log.warning("could not post event %s on %s/%s: %s", reason, *key, exc)
        log.info(
            "reconciled %s/%s (%s): phase=%s created=%s patched=%s deleted=%s",
            *key,
            trigger,
            result.status.get("phase"),
            result.outcome.created if result.outcome else [],
            result.outcome.patched if result.outcome else [],
            result.outcome.deleted if result.outcome else [],
        )
        return result


@kopf.on.resume(GROUP, VERSION, "scanjobs")
@kopf.on.create(GROUP, VERSION, "scanjobs")
@kopf.on.update(GROUP, VERSION, "scanjobs")
async def scanjob_changed(body: kopf.Body, patch: kopf.Patch, reason: str, **_: Any) -> None:
    result = await _reconcile_locked(_plain(body), trigger=str(reason))
    if result is not None:
        patch.status.update(result.status)


@kopf.on.event(GROUP, VERSION, "scanjobs")
def scanjob_event(type: str, namespace: str | None, name: str, uid: str, **_: Any) -> None:
    """Bookkeeping when a ScanJob is gone: its children go with their owner references.

    A watch event rather than ``@kopf.on.delete``: without a finalizer, Kopf runs no delete
    handler for an object that is already gone.
    """
    if type != "DELETED":
        return
    STATE.deleted.add(uid)
    STATE.locks.pop((str(namespace), name), None)
    STATE.generations.pop(uid, None)
    STATE.statuses.pop(uid, None)
    metrics.record_state((str(namespace), name), None, None)


def _fresh(body: dict[str, Any]) -> dict[str, Any]:
    """The newest copy of a ScanJob in the index (a round's snapshot ages while it runs)."""
    meta = body.get("metadata", {})
    index = STATE.scanjobs
    key = (meta.get("namespace"), meta.get("name"))
    if index is not None and key in index:
        for newest in index[key]:
            return dict(newest)
    return body


async def _reconcile_and_store(bodies: Iterable[dict[str, Any]], trigger: str) -> None:
    """Reconcile several ScanJobs (a few at a time) and write each changed status."""
    limit = asyncio.Semaphore(STATE.settings.resync_concurrency)

    async def one(snapshot: dict[str, Any]) -> None:
        body = _fresh(snapshot)
        meta = body.get("metadata", {})
        if meta.get("deletionTimestamp"):
            return
        async with limit:
            try:
                result = await _reconcile_locked(body, trigger)
                if result is not None and not _same_status(body.get("status") or {}, result.status):
                    await STATE.kube.patch_scanjob_status(
                        meta["namespace"], meta["name"], result.status
                    )
            except ApiException as exc:
                if exc.status != 404:  # deleted meanwhile is fine
                    log.warning("resync of %s/%s failed: %s", *_key(meta), exc)
            except Exception:
                log.exception("resync of %s/%s failed", *_key(meta))

    await asyncio.gather(*(one(body) for body in bodies))


def _same_status(current: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether patching ``new`` would change nothing (a quiet resync writes nothing)."""
    return all(
        current.get(key) == value for key, value in new.items() if value is not None
    ) and all(key not in current for key, value in new.items() if value is None)


def _key(meta: dict[str, Any]) -> tuple[str, str]:
    return (str(meta.get("namespace")), str(meta.get("name")))


def _scanjobs(namespace: str | None = None, policy: str | None = None) -> list[dict[str, Any]]:
    index = STATE.scanjobs
    if index is None:
        return []
    bodies = []
    for key in list(index):
        if namespace is not None and key[0] != namespace:
            continue
        for body in index[key]:
            ref = ((body.get("spec") or {}).get("policyRef") or {}).get("name")
            if policy is None or ref == policy:
                bodies.append(body)
    return bodies


async def _resync_forever(interval: float) -> None:
    """Level-triggered resync: the policies ConfigMaps, every ScanJob again (run status, drift
    repair), then who uses which SignalPolicy."""
    while True:
        await asyncio.sleep(interval)
        try:
            for namespace in sorted({ns for ns, _ in _policy_entries()}):
                await _sync_policies(namespace)  # repairs a deleted or edited ConfigMap too
            await _reconcile_and_store(_scanjobs(), trigger="resync")
            await _refresh_policy_usage()
        except Exception:  # the loop must outlive any one bad round
            metrics.ERRORS.labels(kind="unexpected").inc()
            log.exception("resync round failed; the next one retries")


def _policy_usage(namespace: str, name: str) -> dict[str, Any]:
    users = sorted(b["metadata"]["name"] for b in _scanjobs(namespace, policy=name))
    return {"usedBy": len(users), "scanJobs": users}


async def _refresh_policy_usage() -> None:
    """Keep each SignalPolicy's ``usedBy``/``scanJobs`` true as ScanJobs come, go and change."""
    for (namespace, name), entry in _policy_entries().items():
        usage = _policy_usage(namespace, name)
        current = entry.get("status") or {}
        if any(current.get(key) != value for key, value in usage.items()):
            await STATE.kube.patch_status("signalpolicies", namespace, name, usage)


@kopf.on.resume(GROUP, VERSION, "signalpolicies")
@kopf.on.create(GROUP, VERSION, "signalpolicies")
@kopf.on.update(GROUP, VERSION, "signalpolicies")
async def signalpolicy_changed(
    namespace: str | None, name: str, meta: kopf.Meta, patch: kopf.Patch, **_: Any
) -> None:
    """A policy appeared or changed: its ScanJobs converge (ConfigMaps, worker rollouts)."""
    await _sync_policies(str(namespace))
    users = _scanjobs(namespace, policy=name)
    await _reconcile_and_store(users, trigger="policy")
    patch.status["observedGeneration"] = meta.get("generation")
    patch.status.update(_policy_usage(str(namespace), name))


@kopf.on.event(GROUP, VERSION, "signalpolicies")
async def signalpolicy_event(type: str, namespace: str | None, name: str, **_: Any) -> None:
    """A policy is gone: its file leaves the namespace's ConfigMap and its ScanJobs turn Blocked
    (condition + event; their children stay as they were)."""
    if type != "DELETED":
        return
    await _sync_policies(str(namespace), gone=name)
    await _reconcile_and_store(_scanjobs(namespace, policy=name), trigger="policy")
