"""Versioned domain events carried by the bus.

Every event has ``event_id`` (handlers deduplicate on it), ``type``, ``version`` and
``occurred_at`` (UTC). A change that breaks consumers gets a new class with ``version`` + 1,
registered beside the old one, so old messages still in a stream stay readable.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event; subclasses set ``TYPE`` and ``VERSION``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str] = "Event"
    VERSION: ClassVar[int] = 1

    event_id: str = Field(default_factory=_new_id, min_length=1)
    occurred_at: datetime = Field(default_factory=_now)
    run_id: str | None = None
    # Set when a pipeline canvas runs the next steps itself; event-driven follow-ups then skip.
    pipeline_id: str | None = None

    @property
    def type(self) -> str:
        return self.TYPE

    @property
    def version(self) -> int:
        return self.VERSION

    def to_fields(self) -> dict[str, str]:
        """The flat field map stored in a stream entry."""
        return {
            "event_id": self.event_id,
            "type": self.TYPE,
            "version": str(self.VERSION),
            "data": self.model_dump_json(),
        }


class MarketDataUpdated(Event):
    TYPE: ClassVar[str] = "MarketDataUpdated"
    start: date
    end: date
    source: str
    counts: dict[str, int] = Field(default_factory=dict)


class MarketStatusChanged(Event):
    TYPE: ClassVar[str] = "MarketStatusChanged"
    day: date
    status: str
    previous_status: str | None = None
    score: float | None = None


class VCPSignalDetected(Event):
    TYPE: ClassVar[str] = "VCPSignalDetected"
    day: date
    strategy: str
    tickers: list[str] = Field(default_factory=list)
    count: int = 0


class SignalCreated(Event):
    TYPE: ClassVar[str] = "SignalCreated"
    day: date
    strategy: str
    ticker: str
    signal_id: int | None = None
    grade: str | None = None
    score: float | None = None
    entry_price: float | None = None


class AIAnalysisCompleted(Event):
    TYPE: ClassVar[str] = "AIAnalysisCompleted"
    day: date
    ticker: str
    signal_id: int | None = None
    analysis_source: str
    action: str | None = None
    confidence: float | None = None


class PriceUpdated(Event):
    TYPE: ClassVar[str] = "PriceUpdated"
    day: date
    tickers: int = 0


class ScanCompleted(Event):
    TYPE: ClassVar[str] = "ScanCompleted"
    day: date | None = None
    kind: str
    status: str
    counts: dict[str, Any] = Field(default_factory=dict)


EVENT_TYPES: dict[tuple[str, int], type[Event]] = {
    (cls.TYPE, cls.VERSION): cls
    for cls in (
        MarketDataUpdated,
        MarketStatusChanged,
        VCPSignalDetected,
        SignalCreated,
        AIAnalysisCompleted,
        PriceUpdated,
        ScanCompleted,
    )
}


class UndecodableEvent(ValueError):
    """A stream entry that no registered event class can read (goes to the dead-letter stream)."""


def decode_event(fields: dict[str, str]) -> Event:
    """Rebuild an event from a stream entry's fields."""
    try:
        key = (fields["type"], int(fields["version"]))
        cls = EVENT_TYPES[key]
    except (KeyError, ValueError) as exc:
        raise UndecodableEvent(
            f"unknown event {fields.get('type')!r} v{fields.get('version')!r}"
        ) from exc
    try:
        payload = orjson.loads(fields["data"])
        return cls.model_validate(payload)
    except Exception as exc:  # pydantic or JSON error: the message itself is bad
        raise UndecodableEvent(f"bad {key[0]} v{key[1]} payload: {exc}") from exc
