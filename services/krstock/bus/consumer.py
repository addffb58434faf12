"""The consuming loop of one service: at-least-once, deduplicated, with retries and dead letters.

For each delivery: an undecodable message goes straight to the dead-letter stream; an event whose
id this group already handled is only acknowledged; otherwise the handler runs and, on success,
the event id is remembered (Redis key with a TTL) and the delivery acknowledged. A failed delivery
stays pending; after ``claim_idle_ms`` any consumer of the group reclaims it (XAUTOCLAIM), and
after ``max_attempts`` failures it is dead-lettered with the last error. When Redis goes away the
loop backs off and reconnects; what was delivered and not acknowledged is read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import redis

from krstock.bus import metrics
from krstock.bus.broker import BrokerUnavailable, Delivery, EventBroker
from krstock.bus.events import Event, UndecodableEvent, decode_event

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]


class EventConsumer:
    def __init__(
        self,
        broker: EventBroker,
        client: redis.Redis,
        *,
        group: str,
        consumer: str,
        handlers: Mapping[str, Handler],
        prefix: str = "krstock",
        max_attempts: int = 5,
        claim_idle_ms: int = 60_000,
        dedup_ttl_s: int = 7 * 24 * 3600,
        block_ms: int = 1000,
        batch: int = 10,
    ) -> None:
        if not handlers:
            raise ValueError(f"group {group!r} has no handlers")
        self.broker = broker
        self.client = client
        self.group = group
        self.consumer = consumer
        self.handlers = dict(handlers)
        self.event_types = sorted(self.handlers)
        self.prefix = prefix
        self.max_attempts = max_attempts
        self.claim_idle_ms = claim_idle_ms
        self.dedup_ttl_s = dedup_ttl_s
        self.block_ms = block_ms
        self.batch = batch
        self._last_claim = 0.0
        self._need_pending = True

    # Keys -----------------------------------------------------------------------------------
    def _done_key(self, event_id: str) -> str:
        return f"{self.prefix}:bus:done:{self.group}:{event_id}"

    def _errors_key(self) -> str:
        return f"{self.prefix}:bus:errors:{self.group}"

    # Loop -----------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, surviving broker outages."""
        backoff = 0.1
        while not stop.is_set():
            try:
                self.poll_once()
                backoff = 0.1
            except (BrokerUnavailable, redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning(
                    "bus unavailable, retrying", extra={"group": self.group, "error": str(exc)}
                )
                self._need_pending = True  # after a reconnect, re-read our own pending first
                stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)

    def poll_once(self) -> int:
        """Handle one batch (own pending after a (re)start, stale claims, then new); return size."""
        if self._need_pending:
            self.broker.ensure_group(self.group, self.event_types)
            deliveries = self.broker.consume(
                self.group, self.consumer, self.event_types, count=self.batch, pending=True
            )
            if not deliveries:
                self._need_pending = False
        else:
            deliveries = []
            now = time.monotonic()
            if now - self._last_claim >= min(self.claim_idle_ms / 2000, 5.0):
                self._last_claim = now
                deliveries = self.broker.claim_stale(
                    self.group,
                    self.consumer,
                    self.event_types,
                    min_idle_ms=self.claim_idle_ms,
                    count=self.batch,
                )
            if not deliveries:
                deliveries = self.broker.consume(
                    self.group,
                    self.consumer,
                    self.event_types,
                    count=self.batch,
                    block_ms=self.block_ms,
                )
        for delivery in deliveries:
            self.process(delivery)
        return len(deliveries)

    def process(self, delivery: Delivery) -> str:
        """Handle one delivery; return the outcome (handled, duplicate, failed, dead-lettered)."""
        try:
            event = decode_event(delivery.fields)
        except UndecodableEvent as exc:
            self.broker.dead_letter(self.group, delivery, f"undecodable: {exc}")
            return self._count(delivery, "dead_lettered")
        if self.client.exists(self._done_key(event.event_id)):
            self.broker.ack(self.group, delivery)
            return self._count(delivery, "duplicate")
        lag = (datetime.now(UTC) - event.occurred_at).total_seconds()
        metrics.EVENT_LAG.labels(delivery.event_type, self.group).observe(max(lag, 0.0))
        try:
            self.handlers[delivery.event_type](event)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "event handler failed",
                extra={
                    "group": self.group,
                    "event_type": delivery.event_type,
                    "event_id": event.event_id,
                    "attempt": delivery.attempts,
                    "error": error,
                },
            )
            if delivery.attempts >= self.max_attempts:
                self.broker.dead_letter(self.group, delivery, error)
                self.client.hdel(self._errors_key(), delivery.message_id)
                return self._count(delivery, "dead_lettered")
            self.client.hset(self._errors_key(), delivery.message_id, error)
            return self._count(delivery, "failed")
        self.client.set(self._done_key(event.event_id), delivery.message_id, ex=self.dedup_ttl_s)
        self.broker.ack(self.group, delivery)
        self.client.hdel(self._errors_key(), delivery.message_id)
        return self._count(delivery, "handled")

    def _count(self, delivery: Delivery, outcome: str) -> str:
        metrics.EVENTS.labels(delivery.event_type, self.group, outcome).inc()
        return outcome
