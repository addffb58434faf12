"""Run records from the krstock API: ``GET {api}/api/v1/runs?scanjob=NAMESPACE/NAME``.

The answer is the /api/v1 list envelope ``{"data": [...], "count", "limit", "next_cursor"}``
(``{"items": [...]}`` is accepted too) of runs ``{"id", "status": PENDING|RUNNING|SUCCEEDED|FAILED,
"created_at", "started_at", "finished_at", "counts": {"signals": N}}``, newest first; the newest
run becomes ``status.lastRun``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

RUN_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED")


class RunsUnavailable(Exception):
    """The API could not be reached or answered with an error."""


@dataclass(frozen=True)
class RunRecord:
    id: str
    state: str
    started_at: str | None
    finished_at: str | None
    signals: int | None
    created_at: str | None = None

    def as_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"id": self.id, "state": self.state}
        if self.started_at:
            status["startedAt"] = self.started_at
        if self.finished_at:
            status["finishedAt"] = self.finished_at
        if self.signals is not None:
            status["signals"] = self.signals
        return status


def _rfc3339(value: Any) -> str | None:
    """The API's ISO timestamps in the RFC 3339 form Kubernetes date columns expect."""
    if not value:
        return None
    text = str(value).replace(" ", "T")
    if text.endswith("+00:00"):
        text = text[: -len("+00:00")] + "Z"
    return text


def parse_run(item: dict[str, Any]) -> RunRecord:
    state = str(item.get("status", "")).upper()
    if state not in RUN_STATES:
        raise RunsUnavailable(f"run {item.get('id')!r} has an unknown status {state!r}")
    signals = (item.get("counts") or {}).get("signals")
    return RunRecord(
        id=str(item["id"]),
        state=state,
        started_at=_rfc3339(item.get("started_at")),
        finished_at=_rfc3339(item.get("finished_at")),
        signals=int(signals) if signals is not None else None,
        created_at=_rfc3339(item.get("created_at")),
    )


def latest(records: list[RunRecord]) -> RunRecord | None:
    """The newest run: by creation time when the API gives it, else a run not started yet counts
    as newer than any started one."""
    if not records:
        return None
    if all(r.created_at for r in records):
        return max(records, key=lambda r: r.created_at or "")
    return max(records, key=lambda r: (r.started_at is None, r.started_at or ""))


class RunsClient:
    def __init__(self, base_url: str, api_key: str | None, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def latest_run(self, namespace: str, name: str) -> RunRecord | None:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        url = f"{self.base_url}/api/v1/runs"
        params = {"scanjob": f"{namespace}/{name}", "limit": "20"}
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as session,
                session.get(url, params=params, headers=headers) as response,
            ):
                if response.status != 200:
                    raise RunsUnavailable(f"GET {url} answered HTTP {response.status}")
                payload = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RunsUnavailable(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
        items = None
        if isinstance(payload, dict):
            items = payload.get("data", payload.get("items"))
        if not isinstance(items, list):
            raise RunsUnavailable(f"GET {url} answered without a list of runs (data)")
        return latest([parse_run(item) for item in items])
