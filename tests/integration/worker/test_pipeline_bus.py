"""The event bus on real Redis: dead letters, deduplication, and a Redis restart under load."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import redis
from pipeline_harness import private_redis
from prometheus_client import REGISTRY

from krstock.bus.consumer import EventConsumer
from krstock.bus.events import PriceUpdated, ScanCompleted
from krstock.bus.redis_streams import BrokerUnavailable, RedisStreamBroker

pytestmark = pytest.mark.integration

DAY = date(2026, 1, 5)


@pytest.fixture
def bus(redis_url: str):  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(redis_url)
    prefix = f"bt{uuid.uuid4().hex[:8]}"
    yield client, RedisStreamBroker(client, prefix=prefix), prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def drain(consumer: EventConsumer, until, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError("consumer did not get there")
        consumer.poll_once()


def test_poison_message_is_dead_lettered_after_n_attempts_with_its_error(bus) -> None:  # type: ignore[no-untyped-def]
    client, broker, prefix = bus
    calls: Counter[str] = Counter()
    poison = PriceUpdated(day=DAY, tickers=-1)
    good = PriceUpdated(day=DAY, tickers=5)

    def handler(event) -> None:  # type: ignore[no-untyped-def]
        calls[event.event_id] += 1
        if event.tickers < 0:
            raise ValueError("negative ticker count")

    consumer = EventConsumer(
        broker,
        client,
        group="svc",
        consumer="c1",
        handlers={"PriceUpdated": handler},
        prefix=prefix,
        max_attempts=3,
        claim_idle_ms=30,
        block_ms=20,
    )
    consumer.poll_once()  # creates the group
    broker.publish(poison)
    broker.publish(good)
    drain(consumer, lambda: client.xlen(broker.dead_letter_key) == 1)
    assert calls[poison.event_id] == 3  # exactly N attempts, then no more
    assert calls[good.event_id] == 1
    [dead] = broker.dead_letters()
    assert dead["event_id"] == poison.event_id and dead["dl_attempts"] == "3"
    assert dead["dl_error"] == "ValueError: negative ticker count"
    assert dead["dl_group"] == "svc"
    assert broker.pending_count("svc", "PriceUpdated") == 0
    for _ in range(5):
        consumer.poll_once()
    assert calls[poison.event_id] == 3


def test_undecodable_message_goes_straight_to_dead_letters(bus) -> None:  # type: ignore[no-untyped-def]
    client, broker, prefix = bus
    consumer = EventConsumer(
        broker,
        client,
        group="svc",
        consumer="c1",
        handlers={"PriceUpdated": lambda e: None},
        prefix=prefix,
        block_ms=20,
    )
    consumer.poll_once()
    client.xadd(broker.stream_key("PriceUpdated"), {"type": "PriceUpdated", "version": "9"})
    drain(consumer, lambda: client.xlen(broker.dead_letter_key) == 1)
    [dead] = broker.dead_letters()
    assert dead["dl_attempts"] == "1" and "unknown event 'PriceUpdated' v'9'" in dead["dl_error"]


def test_same_event_id_is_handled_once_per_group(bus) -> None:  # type: ignore[no-untyped-def]
    client, broker, prefix = bus
    seen: list[str] = []

    def make(group: str) -> EventConsumer:
        return EventConsumer(
            broker,
            client,
            group=group,
            consumer="c1",
            handlers={"ScanCompleted": lambda e: seen.append(f"{group}:{e.event_id}")},
            prefix=prefix,
            block_ms=20,
        )

    first, second = make("scanner"), make("notifier")
    first.poll_once()
    second.poll_once()
    event = ScanCompleted(day=DAY, kind="vcp", status="SUCCEEDED", counts={"signals": 3})
    broker.publish(event)
    broker.publish(event)  # a publisher retry: same event id, new stream entry
    for _ in range(3):
        first.poll_once()
        second.poll_once()
    assert sorted(seen) == [f"notifier:{event.event_id}", f"scanner:{event.event_id}"]
    lag = REGISTRY.get_sample_value(
        "krstock_event_lag_seconds_count", {"event_type": "ScanCompleted", "group": "scanner"}
    )
    assert lag is not None and lag >= 1
    assert broker.pending_count("scanner", "ScanCompleted") == 0


def test_consumers_survive_a_redis_restart_without_losing_or_dropping(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="krstock.bus.consumer")
    with private_redis(tmp_path) as server:
        client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=0.5)
        broker = RedisStreamBroker(client, prefix="rs")
        seen: list[str] = []
        lock = threading.Lock()

        def handler(event) -> None:  # type: ignore[no-untyped-def]
            time.sleep(0.005)
            with lock:
                seen.append(event.event_id)

        stop = threading.Event()
        consumers = [
            EventConsumer(
                broker,
                client,
                group="svc",
                consumer=name,
                handlers={"PriceUpdated": handler},
                prefix="rs",
                claim_idle_ms=500,
                block_ms=100,
            )
            for name in ("c1", "c2")
        ]
        for consumer in consumers:
            consumer.poll_once()  # groups exist before the first event
        threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in consumers]
        for thread in threads:
            thread.start()
        published: list[str] = []
        try:
            for i in range(60):
                event = PriceUpdated(day=DAY, tickers=i)
                while True:  # the publisher retries until Redis acknowledges the append
                    try:
                        broker.publish(event)
                        break
                    except BrokerUnavailable:
                        time.sleep(0.05)
                published.append(event.event_id)
                if i == 20:
                    before = client.info("server")["run_id"]
                    server.kill()  # SIGKILL: no clean shutdown, only the fsynced AOF survives
                    time.sleep(0.3)
                    server.start()
                    assert client.info("server")["run_id"] != before
                time.sleep(0.01)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with lock:
                    done = set(seen) >= set(published)
                if done and broker.pending_count("svc", "PriceUpdated") == 0:
                    break
                time.sleep(0.05)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=5)
        # Nothing acknowledged was lost: every appended event is still in the stream and was
        # handled; nothing unacknowledged was dropped: no delivery is left pending.
        assert client.xlen(broker.stream_key("PriceUpdated")) == 60
        assert set(seen) == set(published)
        assert broker.pending_count("svc", "PriceUpdated") == 0
        assert all(client.exists(f"rs:bus:done:svc:{eid}") for eid in published)
        # The consumers did see the outage and came back by themselves.
        assert any("bus unavailable" in r.getMessage() for r in caplog.records)
        # At-least-once: a redelivery after the crash may repeat a handler, but rarely.
        assert sum(Counter(seen).values()) - len(published) <= 5
