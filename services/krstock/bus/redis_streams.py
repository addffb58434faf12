"""The event broker on Redis Streams: one stream per event type, one consumer group per service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis

from krstock.bus.broker import BrokerUnavailable, Delivery
from krstock.bus.events import Event

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStreamBroker:
    """``RedisStreamBroker(redis.Redis.from_url(url), prefix="krstock")``."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "krstock",
        maxlen: int = 100_000,
        start_id: str = "$",
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.maxlen = maxlen
        # "$": a new group sees events published after it was created (no history replay).
        self.start_id = start_id

    # Keys -----------------------------------------------------------------------------------
    def stream_key(self, event_type: str) -> str:
        return f"{self.prefix}:events:{event_type}"

    @property
    def dead_letter_key(self) -> str:
        return f"{self.prefix}:events:dead-letter"

    def _type_of(self, key: Any) -> str:
        return _text(key).rsplit(":", 1)[-1]

    # Verbs ----------------------------------------------------------------------------------
    def publish(self, event: Event) -> str:
        try:
            message_id = self.client.xadd(
                self.stream_key(event.type),
                event.to_fields(),  # type: ignore[arg-type]
                maxlen=self.maxlen,
                approximate=True,
            )
        except CONNECTION_ERRORS as exc:
            raise BrokerUnavailable(str(exc)) from exc
        return _text(message_id)

    def ensure_group(self, group: str, event_types: Sequence[str]) -> None:
        for event_type in event_types:
            try:
                self.client.xgroup_create(
                    self.stream_key(event_type), group, id=self.start_id, mkstream=True
                )
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            except CONNECTION_ERRORS as exc:
                raise BrokerUnavailable(str(exc)) from exc

    def consume(
        self,
        group: str,
        consumer: str,
        event_types: Sequence[str],
        *,
        count: int = 10,
        block_ms: int = 1000,
        pending: bool = False,
    ) -> list[Delivery]:
        streams: Any = {self.stream_key(t): ("0" if pending else ">") for t in event_types}
        try:
            try:
                reply: Any = self.client.xreadgroup(
                    group, consumer, streams, count=count, block=None if pending else block_ms
                )
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The stream or group vanished (Redis restarted without persistence): recreate.
                self.ensure_group(group, event_types)
                return []
            deliveries: list[Delivery] = []
            for key, entries in reply or []:
                event_type = self._type_of(key)
                for message_id, fields in entries:
                    if fields is None:  # trimmed away while pending
                        continue
                    mid = _text(message_id)
                    attempts = (
                        self._attempts(group, event_type, [mid]).get(mid, 1) if pending else 1
                    )
                    deliveries.append(
                        Delivery(
                            event_type,
                            mid,
                            {_text(k): _text(v) for k, v in fields.items()},
                            attempts,
                        )
                    )
            return deliveries
        except CONNECTION_ERRORS as exc:
            raise BrokerUnavailable(str(exc)) from exc

    def _attempts(self, group: str, event_type: str, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        rows = self.client.xpending_range(
            self.stream_key(event_type), group, min=min(ids), max=max(ids), count=len(ids) + 100
        )
        return {_text(r["message_id"]): int(r["times_delivered"]) for r in rows}

    def ack(self, group: str, delivery: Delivery) -> None:
        try:
            self.client.xack(self.stream_key(delivery.event_type), group, delivery.message_id)
        except CONNECTION_ERRORS as exc:
            raise BrokerUnavailable(str(exc)) from exc

    def claim_stale(
        self,
        group: str,
        consumer: str,
        event_types: Sequence[str],
        *,
        min_idle_ms: int,
        count: int = 10,
    ) -> list[Delivery]:
        deliveries: list[Delivery] = []
        try:
            for event_type in event_types:
                try:
                    claim: Any = self.client.xautoclaim(
                        self.stream_key(event_type),
                        group,
                        consumer,
                        min_idle_time=min_idle_ms,
                        start_id="0-0",
                        count=count,
                    )
                except redis.ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    self.ensure_group(group, [event_type])
                    continue
                claimed = [(mid, f) for mid, f in claim[1] if f is not None]
                ids = [_text(mid) for mid, _ in claimed]
                attempts = self._attempts(group, event_type, ids)
                for (_, fields), mid in zip(claimed, ids, strict=True):
                    deliveries.append(
                        Delivery(
                            event_type,
                            mid,
                            {_text(k): _text(v) for k, v in fields.items()},
                            attempts.get(mid, 1),
                        )
                    )
        except CONNECTION_ERRORS as exc:
            raise BrokerUnavailable(str(exc)) from exc
        return deliveries

    def dead_letter(self, group: str, delivery: Delivery, error: str) -> None:
        entry = {
            **delivery.fields,
            "dl_stream": self.stream_key(delivery.event_type),
            "dl_message_id": delivery.message_id,
            "dl_group": group,
            "dl_attempts": str(delivery.attempts),
            "dl_error": error[:4000],
            "dl_at": datetime.now(UTC).isoformat(),
        }
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.xadd(self.dead_letter_key, entry, maxlen=self.maxlen, approximate=True)  # type: ignore[arg-type]
                pipe.xack(self.stream_key(delivery.event_type), group, delivery.message_id)
                pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise BrokerUnavailable(str(exc)) from exc

    # Inspection (metrics, tests, operators) --------------------------------------------------
    def pending_count(self, group: str, event_type: str) -> int:
        try:
            info = self.client.xpending(self.stream_key(event_type), group)
        except redis.ResponseError:
            return 0
        return int(info["pending"])

    def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        rows: Any = self.client.xrange(self.dead_letter_key, count=count)
        return [{_text(k): _text(v) for k, v in fields.items()} for _, fields in rows]
