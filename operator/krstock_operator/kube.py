"""The operator's Kubernetes access: list owned children, create, merge-patch, delete, post events.

A thin generic layer over ``kubernetes_asyncio``'s ApiClient (plain dicts in and out), so every
child kind goes through the same four verbs that the RBAC role grants.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from krstock_operator import GROUP, VERSION
from krstock_operator.config import OperatorSettings
from krstock_operator.manifests import MANAGED_BY, SCANJOB_LABEL, Owner

MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        path = f"{base}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path += f"/{name}"
        if subresource is not None:
            path += f"/{subresource}"
        return path


# Every kind a ScanJob owns; the ClusterRole grants list/create/patch/delete on exactly these (and
# on the namespace's policies ConfigMap).
CHILD_KINDS: dict[str, Kind] = {
    "Deployment": Kind("apps", "v1", "deployments"),
    "ScaledObject": Kind("keda.sh", "v1alpha1", "scaledobjects"),
    "HorizontalPodAutoscaler": Kind("autoscaling", "v2", "horizontalpodautoscalers"),
    "CronJob": Kind("batch", "v1", "cronjobs"),
    "Job": Kind("batch", "v1", "jobs"),
}
CONFIGMAPS = Kind("", "v1", "configmaps")
SCANJOBS = Kind(GROUP, VERSION, "scanjobs")
EVENTS = Kind("", "v1", "events")


async def make_api_client(settings: OperatorSettings) -> client.ApiClient:
    """An ApiClient for an explicit URL (tests, dev), in-cluster, or the local kubeconfig."""
    if settings.kube_url:
        configuration = client.Configuration(host=settings.kube_url)
        return client.ApiClient(configuration)
    try:
        config.load_incluster_config()
    except config.ConfigException:
        await config.load_kube_config()
    return client.ApiClient()


def _kind(kind: str) -> Kind:
    return CONFIGMAPS if kind == "ConfigMap" else CHILD_KINDS[kind]


def owned_by(obj: dict[str, Any], owner: Owner) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner.uid for ref in refs)


class Kube:
    """Dict-in, dict-out access to the objects the operator manages."""

    def __init__(self, api: client.ApiClient, keda_cache_s: float = 30.0) -> None:
        self.api = api
        self._keda_cache_s = keda_cache_s
        self._keda: tuple[float, bool] | None = None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        return await self.api.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            response_types_map={200: "object", 201: "object", 202: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=True,
        )

    async def keda_available(self) -> bool:
        """Whether KEDA's ScaledObject CRD is served (discovery, cached briefly)."""
        now = time.monotonic()
        if self._keda is not None and now - self._keda[0] < self._keda_cache_s:
            return self._keda[1]
        try:
            found = await self._call("GET", "/apis/keda.sh/v1alpha1")
            available = any(r.get("name") == "scaledobjects" for r in found.get("resources", []))
        except ApiException as exc:
            if exc.status != 404:
                raise
            available = False
        self._keda = (now, available)
        return available

    async def list_owned(self, kind: str, owner: Owner) -> list[dict[str, Any]]:
        """The objects of ``kind`` this ScanJob owns (selector on the server, uid check here)."""
        selector = f"{SCANJOB_LABEL}={owner.name},app.kubernetes.io/managed-by={MANAGED_BY}"
        found = await self._call(
            "GET", CHILD_KINDS[kind].path(owner.namespace), query=[("labelSelector", selector)]
        )
        items = found.get("items", []) if isinstance(found, dict) else []
        return [item for item in items if owned_by(item, owner)]

    async def list_policies_configmaps(self, namespace: str) -> list[dict[str, Any]]:
        """The namespace's policies ConfigMap (a list: the role grants list, not get)."""
        selector = (
            f"app.kubernetes.io/component=signalpolicies,app.kubernetes.io/managed-by={MANAGED_BY}"
        )
        found = await self._call(
            "GET", CONFIGMAPS.path(namespace), query=[("labelSelector", selector)]
        )
        items = found.get("items", []) if isinstance(found, dict) else []
        return [
            item
            for item in items
            if (item.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/component")
            == "signalpolicies"
        ]

    async def create(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        namespace = obj["metadata"]["namespace"]
        result: dict[str, Any] = await self._call("POST", _kind(kind).path(namespace), body=obj)
        return result

    async def patch(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "PATCH",
            _kind(kind).path(namespace, name),
            body=patch,
            content_type=MERGE_PATCH,
        )
        return result

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        try:
            await self._call(
                "DELETE",
                _kind(kind).path(namespace, name),
                body={"propagationPolicy": "Background"},
            )
        except ApiException as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise

    async def patch_scanjob_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self.patch_status("scanjobs", namespace, name, status)

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        """Merge-patch the status subresource of one of our custom resources."""
        await self._call(
            "PATCH",
            Kind(GROUP, VERSION, plural).path(namespace, name, "status"),
            body={"status": status},
            content_type=MERGE_PATCH,
        )

    async def post_event(
        self, involved: dict[str, Any], event_type: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event about a ScanJob (why it is blocked or degraded, and when it recovers)."""
        event = event_body(involved, event_type, reason, message, dt.datetime.now(dt.UTC))
        await self._call("POST", EVENTS.path(event["metadata"]["namespace"]), body=event)


def event_body(
    involved: dict[str, Any], event_type: str, reason: str, message: str, now: dt.datetime
) -> dict[str, Any]:
    meta = involved.get("metadata", {})
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": f"{meta.get('name')}.",
            "namespace": meta.get("namespace", "default"),
        },
        "involvedObject": {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": MANAGED_BY},
        "reportingComponent": MANAGED_BY,
        "reportingInstance": socket.gethostname()[:128],
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
