"""kmock 0.8's KubernetesEmulator made realistic enough for Kopf (pinned: overrides private parts).

Adds what a real API server does and Kopf relies on: uid/creationTimestamp/generation and a numeric
resourceVersion on create, resourceVersion (and generation on spec changes) bumped on every PATCH,
``metadata.generateName`` expanded (Kopf posts events with it), a failed JSON-patch ``test``
answered with HTTP 422 instead of 500, and watches that continue a list from its resourceVersion
(only later changes; no duplicate replay of everything, no gap between the list and the watch).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

import attrs
import jsonpatch
import kmock
from kmock._internal import enums, rendering

# Every resource the operator (and Kopf) touch; discovery must show them or Kopf waits forever.
CORE_RESOURCES = {
    "v1/namespaces": dict(kind="Namespace", namespaced=False),
    "v1/events": dict(kind="Event", namespaced=True),
    "v1/configmaps": dict(kind="ConfigMap", namespaced=True),
    "apiextensions.k8s.io/v1/customresourcedefinitions": dict(
        kind="CustomResourceDefinition", namespaced=False
    ),
    "apps/v1/deployments": dict(kind="Deployment", namespaced=True),
    "batch/v1/cronjobs": dict(kind="CronJob", namespaced=True),
    "batch/v1/jobs": dict(kind="Job", namespaced=True),
    "autoscaling/v2/horizontalpodautoscalers": dict(
        kind="HorizontalPodAutoscaler", namespaced=True
    ),
    "krstock.io/v1alpha1/scanjobs": dict(kind="ScanJob", namespaced=True, subresources={"status"}),
    "krstock.io/v1alpha1/signalpolicies": dict(
        kind="SignalPolicy", namespaced=True, subresources={"status"}
    ),
}
KEDA_RESOURCE = "keda.sh/v1alpha1/scaledobjects"
VERBS = {"get", "list", "watch", "create", "patch", "update", "delete"}


def declare(emulator: kmock.KubernetesEmulator, resource: str, **info: Any) -> None:
    """Declare a resource in discovery (kind, namespaced, subresources)."""
    emulator.resources[resource] = kmock.ResourceInfo(
        kind=info["kind"],
        namespaced=info.get("namespaced", True),
        subresources=info.get("subresources", set()),
        verbs=VERBS,
    )


@attrs.define(kw_only=True)
class RealisticEmulator(kmock.KubernetesEmulator):
    """The emulator with server-side metadata bookkeeping (see the module docstring)."""

    _version: int = attrs.field(default=1000, init=False)

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _current(self, request: rendering.Request) -> Any:
        key = (request.resource, request.namespace, request.name)
        if key in self.objects and not self.objects[key].deleted:
            return self.objects[key].raw
        return None

    async def _handle(self, request: rendering.Request) -> Any:
        if request.resource is not None:
            if request.action == enums.action.CREATE and isinstance(request.data, dict):
                self._stamp_create(request.data, request.namespace)
            elif request.action == enums.action.UPDATE and request.name is not None:
                self._stamp_patch(request)
        return await super()._handle(request)

    def _stamp_create(self, obj: dict[str, Any], namespace: str | None) -> None:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        if namespace and not meta.get("namespace"):
            meta["namespace"] = namespace
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = (
            datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
        ).replace("+00:00", "Z")
        meta["generation"] = 1
        meta["resourceVersion"] = self._next_version()

    def _stamp_patch(self, request: rendering.Request) -> None:
        current = self._current(request)
        if current is None:
            return  # the parent answers 404
        meta = current.get("metadata", {})
        generation = int(meta.get("generation", 1))
        version = self._next_version()
        if isinstance(request.data, list):  # JSON patch: Kopf guards finalizers with a `test` op
            try:
                patched = jsonpatch.apply_patch(current, request.data, in_place=False)
            except jsonpatch.JsonPatchTestFailed as exc:
                raise kmock.KubernetesError(
                    status=422, reason="Invalid", message=f"the test operation failed: {exc}"
                ) from exc
            spec_changed = patched.get("spec") != current.get("spec")
            request.data.append(
                {"op": "add", "path": "/metadata/resourceVersion", "value": version}
            )
            if spec_changed:
                request.data.append(
                    {"op": "add", "path": "/metadata/generation", "value": generation + 1}
                )
        elif isinstance(request.data, dict):
            spec_changed = (
                request.subresource is None
                and "spec" in request.data
                and _merged(current.get("spec"), request.data["spec"]) != current.get("spec")
            )
            patch_meta = request.data.setdefault("metadata", {}) or {}
            request.data["metadata"] = patch_meta
            patch_meta["resourceVersion"] = version
            if spec_changed:
                patch_meta["generation"] = generation + 1

    async def _serve_list(self, request: rendering.Request) -> Any:
        # The version *before* the snapshot: a watch from it may repeat an event, never miss one.
        version = self._version
        result = await super()._serve_list(request)
        result["metadata"]["resourceVersion"] = str(version)
        return result

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[Any]:
        since = str(request.params.get("resourceVersion") or "")
        if not since.isdigit():
            async for event in super()._serve_watch(request):
                yield event
            return
        # A watch that continues a list: the changes after `since`, then live events. The bus mark
        # and the replay are taken under the lock every change holds, so nothing falls between.
        yield b""
        assert request.resource is not None
        bus = self._buses[request.resource]
        async with self._lock:
            marker = await bus.mark()
            replay = [
                {"type": "MODIFIED", "object": obj.raw}
                for (resource, namespace, _), obj in self.objects.items()
                if resource == request.resource
                and not obj.deleted
                and (request.namespace is None or namespace == request.namespace)
                and int(obj.raw.get("metadata", {}).get("resourceVersion", "0")) > int(since)
            ]
        try:
            for event in replay:
                yield event
            async for event in bus.stream(since=marker):
                meta = event.get("object", {}).get("metadata", {})
                if request.namespace is None or meta.get("namespace") == request.namespace:
                    yield event
        finally:
            await bus.unmark(marker)


def _merged(base: Any, patch: Any) -> Any:
    """JSON merge-patch semantics (RFC 7386), to tell whether a patch changes the spec."""
    if not isinstance(patch, dict):
        return patch
    result = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merged(result.get(key), value)
    return result


def make_emulator(*, keda: bool) -> RealisticEmulator:
    emulator = RealisticEmulator()
    for resource, info in CORE_RESOURCES.items():
        declare(emulator, resource, **info)
    if keda:
        declare(emulator, KEDA_RESOURCE, kind="ScaledObject", namespaced=True)
    return emulator
