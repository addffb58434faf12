"""The scrape-time collectors on their own: the KRX expected trading day (deadline, weekends,
holidays, a late close), the database and bus collectors against a real Redis and an
unreachable database, and the operator's Degraded gauge."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from krstock.api.infra.metrics import (
    CalendarCollector,
    PlatformStateCollector,
    PoolCollector,
    day_timestamp,
    expected_trading_day,
)
from krstock.bus.metrics import BusBacklogCollector, QueueLengthCollector
from krstock.db.session import make_engine
from krstock.domain.calendar import KrxCalendar

KST = ZoneInfo("Asia/Seoul")
CALENDAR = KrxCalendar()


def _kst(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=KST)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (_kst(2026, 11, 20, 17, 59), date(2026, 11, 19)),  # Friday before the deadline
        (_kst(2026, 11, 20, 18, 0), date(2026, 11, 20)),  # and at it
        (_kst(2026, 11, 21, 10, 0), date(2026, 11, 20)),  # Saturday
        (_kst(2026, 11, 23, 9, 0), date(2026, 11, 20)),  # Monday morning
        (_kst(2026, 9, 25, 20, 0), date(2026, 9, 23)),  # Chuseok (Thu-Fri holidays)
        (_kst(2026, 9, 28, 10, 0), date(2026, 9, 23)),  # the Monday after
        (_kst(2026, 11, 19, 18, 30), date(2026, 11, 18)),  # 수능: the close moves to 16:30
        (_kst(2026, 11, 19, 19, 0), date(2026, 11, 19)),  # so the deadline to 19:00
    ],
)
def test_the_expected_trading_day_follows_the_krx_calendar(now: datetime, expected: date) -> None:
    assert expected_trading_day(CALENDAR, now) == expected


def test_extra_holidays_move_the_expected_day() -> None:
    calendar = KrxCalendar(extra_holidays=[date(2026, 11, 20)])
    assert expected_trading_day(calendar, _kst(2026, 11, 20, 20, 0)) == date(2026, 11, 19)


def test_day_timestamps_are_midnight_utc() -> None:
    assert day_timestamp(date(2026, 11, 20)) == 1795132800.0


def _exposition(*collectors: Collector) -> str:
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry).decode()


def _value(text: str, sample: str) -> float:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(sample + " ")]
    return float(line.rsplit(" ", 1)[1])


def test_the_calendar_collector_reports_today_s_days() -> None:
    text = _exposition(CalendarCollector(CALENDAR))
    expected = _value(text, "krstock_krx_expected_trading_day_timestamp_seconds")
    upcoming = _value(text, "krstock_krx_next_trading_day_timestamp_seconds")
    assert expected < upcoming
    assert _value(text, "krstock_krx_trading_day") in (0.0, 1.0)


def test_an_unreachable_database_is_db_up_0_and_nothing_else() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/nowhere", pool_size=1, max_overflow=0)
    try:
        text = _exposition(PlatformStateCollector(engine), PoolCollector(engine))
    finally:
        engine.dispose()
    assert _value(text, "krstock_db_up") == 0.0
    assert "krstock_data_last_day_timestamp_seconds{" not in text
    assert _value(text, "krstock_db_pool_connections_in_use") == 0.0
    assert _value(text, "krstock_db_pool_connections_max") == 1.0


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def test_bus_backlog_pending_unread_and_dead_letters(client: redis.Redis) -> None:
    prefix = f"krstock-test-{uuid.uuid4().hex[:8]}"
    stream = f"{prefix}:events:signals.created"
    try:
        for i in range(5):
            client.xadd(stream, {"n": str(i)})
        client.xgroup_create(stream, "notifier", id="0")
        client.xreadgroup("notifier", "c1", {stream: ">"}, count=2)  # 2 pending, 3 unread
        client.xadd(f"{prefix}:events:dead-letter", {"error": "boom"})
        client.rpush(f"{prefix}-scan", "task")
        text = _exposition(
            BusBacklogCollector(client, prefix), QueueLengthCollector(client, [f"{prefix}-scan"])
        )
    finally:
        client.delete(stream, f"{prefix}:events:dead-letter", f"{prefix}-scan")
    labels = 'event_type="signals.created",group="notifier"'
    assert _value(text, "krstock_bus_redis_up") == 1.0
    assert _value(text, f"krstock_bus_pending_messages{{{labels}}}") == 2.0
    assert _value(text, f"krstock_bus_consumer_lag_messages{{{labels}}}") == 3.0
    assert _value(text, "krstock_bus_dead_letter_messages") == 1.0
    assert _value(text, f'krstock_queue_length{{queue="{prefix}-scan"}}') == 1.0


def test_redis_down_is_reported_not_faked() -> None:
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    text = _exposition(BusBacklogCollector(down, "krstock"), QueueLengthCollector(down, ["scan"]))
    assert _value(text, "krstock_bus_redis_up") == 0.0
    assert "krstock_queue_length{" not in text and "krstock_bus_dead_letter_messages " not in text


def test_the_operator_counts_degraded_scanjobs() -> None:
    from krstock_operator import metrics

    key = ("t-monitoring", uuid.uuid4().hex[:8])
    before = metrics.DEGRADED._value.get()

    def conditions(status: str) -> list[dict[str, Any]]:
        return [{"type": "Ready", "status": "True"}, {"type": "Degraded", "status": status}]

    metrics.record_state(key, [], "Failed", conditions("True"))
    assert metrics.DEGRADED._value.get() == before + 1
    metrics.record_state(key, [], "Scheduled", conditions("False"))
    assert metrics.DEGRADED._value.get() == before
    metrics.record_state(key, [], "Failed", conditions("True"))
    metrics.record_state(key, None, None)  # deleted
    assert metrics.DEGRADED._value.get() == before


def test_the_operator_reports_each_scanjob_s_next_run() -> None:
    from krstock_operator import metrics

    key = ("t-monitoring", uuid.uuid4().hex[:8])
    metrics.record_state(key, [], "Scheduled", None, "2026-11-20T07:20:00Z")
    assert metrics.NEXT_RUN.labels(*key)._value.get() == 1795159200.0
    metrics.record_state(key, [], "Suspended", None, None)  # suspended: no next run
    assert ("t-monitoring", key[1]) not in {
        (s.labels["namespace"], s.labels["scanjob"])
        for m in metrics.NEXT_RUN.collect()
        for s in m.samples
    }
    metrics.record_state(key, None, None)
