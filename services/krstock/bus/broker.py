"""The narrow interface between the event bus and its transport.

Five verbs, all a message queue with consumer groups offers: publish, consume (new or own pending
deliveries), ack, claim_stale (take over deliveries a dead consumer left unacknowledged), and
dead_letter. With RabbitMQ: publish → a topic exchange keyed by event type; a group → a durable
queue bound to its types; consume → basic.get/consume; ack → basic.ack; claim_stale → a no-op
(the broker requeues a closed channel's deliveries itself); attempts → the ``x-delivery-count``
header of quorum queues; dead_letter → publish to a dead-letter exchange, then ack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from krstock.bus.events import Event


@dataclass(frozen=True)
class Delivery:
    """One message handed to one consumer of a group."""

    event_type: str
    message_id: str
    fields: dict[str, str]
    attempts: int  # 1 on the first delivery


class BrokerUnavailable(ConnectionError):
    """The transport is down; callers back off and retry."""


class EventBroker(Protocol):
    def publish(self, event: Event) -> str:
        """Append ``event`` to its stream; return the transport's message id."""
        ...

    def ensure_group(self, group: str, event_types: Sequence[str]) -> None:
        """Create the group's subscription to each event type if it is missing."""
        ...

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
        """New deliveries, or (``pending=True``) this consumer's own unacknowledged ones."""
        ...

    def ack(self, group: str, delivery: Delivery) -> None: ...

    def claim_stale(
        self,
        group: str,
        consumer: str,
        event_types: Sequence[str],
        *,
        min_idle_ms: int,
        count: int = 10,
    ) -> list[Delivery]:
        """Take over deliveries unacknowledged for ``min_idle_ms`` (their attempts go up by 1)."""
        ...

    def dead_letter(self, group: str, delivery: Delivery, error: str) -> None:
        """Move the delivery to the dead-letter stream with ``error`` and acknowledge it."""
        ...
