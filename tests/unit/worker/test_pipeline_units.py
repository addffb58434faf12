"""Events, routing, settings, notification text and the Celery configuration."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from krstock.app.kinds import SCAN_KINDS, parse_kind, queue_for
from krstock.bus.events import (
    EVENT_TYPES,
    SignalCreated,
    UndecodableEvent,
    decode_event,
)
from krstock.config import Settings
from krstock.worker.celery_app import create_app
from krstock.worker.execution import event_id_for
from krstock.worker.notify import chunks, signal_text
from krstock.worker.tasks import TRANSIENT_ERRORS, daily_pipeline, parse_day


def test_events_round_trip_and_reject_unknown_versions() -> None:
    event = SignalCreated(day=date(2026, 1, 5), strategy="vcp", ticker="005930", score=81.5)
    fields = event.to_fields()
    assert fields["type"] == "SignalCreated" and fields["version"] == "1"
    assert decode_event(fields) == event
    assert len(EVENT_TYPES) == 7
    with pytest.raises(UndecodableEvent, match="v'2'"):
        decode_event({**fields, "version": "2"})
    with pytest.raises(UndecodableEvent, match="bad SignalCreated"):
        decode_event({**fields, "data": '{"day": "not a date"}'})


def test_event_ids_are_stable_per_run_and_fact() -> None:
    assert event_id_for("run-1", "SignalCreated", "005930") == event_id_for(
        "run-1", "SignalCreated", "005930"
    )
    assert event_id_for("run-1", "SignalCreated", "005930") != event_id_for(
        "run-2", "SignalCreated", "005930"
    )


def test_routing_and_kinds() -> None:
    assert queue_for("krstock.run_collect") == "collect"
    assert queue_for("krstock.run_scan") == "scan"
    assert queue_for("krstock.run_analyze") == "ai"
    assert queue_for("krstock.scheduled") == "maintenance"
    with pytest.raises(ValueError, match="unknown krstock task"):
        queue_for("krstock.nope")
    assert parse_kind("closing_bet", SCAN_KINDS) == "closing-bet"
    assert parse_kind("jongga_v2", SCAN_KINDS) == "closing-bet"
    with pytest.raises(ValueError, match="unknown scan kind 'momentum'"):
        parse_kind("momentum", SCAN_KINDS, what="scan kind")
    with pytest.raises(ValueError, match="unknown kind 'track'"):
        parse_kind("track", SCAN_KINDS)
    assert parse_day("2026-01-05") == date(2026, 1, 5)
    with pytest.raises(ValueError, match="ISO date"):
        parse_day("05/01/2026")


def test_celery_configuration_is_the_reliable_one() -> None:
    limits = {"task_time_limit_scan_s": 600, "task_time_limit_collect_s": 1800}
    app = create_app(Settings(redis_url="redis://127.0.0.1:6379/0", **limits))
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.timezone == "Asia/Seoul"
    assert {q.name for q in conf.task_queues} == {"collect", "scan", "ai", "maintenance"}
    assert conf.task_routes["krstock.run_scan"]["queue"] == "scan"
    scan = conf.task_annotations["krstock.run_scan"]
    assert scan["time_limit"] == 600 and scan["soft_time_limit"] == 570
    longest = max(a["time_limit"] for a in conf.task_annotations.values())
    assert conf.broker_transport_options["visibility_timeout"] > longest
    assert {e["task"] for e in conf.beat_schedule.values()} == {
        "krstock.scheduled",
        "krstock.refresh_prices",
    }
    assert len(conf.beat_schedule) == 8  # seven monolith jobs + the 5-minute price refresh
    with pytest.raises(ValueError, match="KRSTOCK_REDIS_URL"):
        create_app(Settings(redis_url=None, **limits), eager=False)


def test_only_transient_errors_are_retried() -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    assert OperationalError in TRANSIENT_ERRORS
    assert not any(issubclass(IntegrityError, t) for t in TRANSIENT_ERRORS)
    assert not any(issubclass(ValueError, t) for t in TRANSIENT_ERRORS)


def _flatten(sig: Any) -> list[Any]:
    """Task names in order; a parallel group becomes a sorted list of its scan kinds."""
    from celery.canvas import _chain, _chord, group

    if isinstance(sig, _chain):
        return [name for step in sig.tasks for name in _flatten(step)]
    if isinstance(sig, _chord):
        return [*_flatten(group(sig.tasks)), *_flatten(sig.body)]
    if isinstance(sig, group):
        return [sorted(s["kwargs"]["kind"] for s in sig.tasks)]
    return [sig.name]


def test_daily_canvas_order() -> None:
    create_app(Settings(redis_url=None), eager=True)
    canvas = daily_pipeline(date(2026, 1, 5), pipeline_id="p1", collect_days=30)
    assert _flatten(canvas) == [
        "krstock.run_collect",
        "krstock.run_market_gate",
        ["closing-bet", "vcp", "vcp-legacy"],
        "krstock.run_analyze",
        "krstock.run_track",
        "krstock.pipeline_step_done",
    ]
    assert canvas.tasks[0].kwargs["start"] == "2025-12-07"
    assert canvas.tasks[0].kwargs["run_id"] == "p1:collect"


def test_notification_text_and_chunks() -> None:
    event = SignalCreated(day=date(2026, 1, 5), strategy="vcp", ticker="005930")
    assert signal_text(event) == "2026-01-05 [vcp] 005930"
    pieces = chunks("a" * 8000, size=3500)
    assert [len(p) for p in pieces] == [3500, 3500, 1000]
    lines = chunks("\n".join(["x" * 1000] * 7), size=3500)
    assert all(len(p) <= 3500 for p in lines) and "".join(lines).count("x") == 7000


def test_worker_probe_command(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    from typer.testing import CliRunner

    from krstock.cli import app as cli
    from krstock.config import get_settings

    heartbeat, ready = tmp_path / "hb", tmp_path / "ready"
    monkeypatch.setenv("KRSTOCK_WORKER_HEARTBEAT_FILE", str(heartbeat))
    monkeypatch.setenv("KRSTOCK_WORKER_READY_FILE", str(ready))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(cli, ["worker-probe", "live"]).exit_code == 1
        assert runner.invoke(cli, ["worker-probe", "ready"]).exit_code == 1
        heartbeat.write_text("x")
        ready.write_text("x")
        assert runner.invoke(cli, ["worker-probe", "live"]).exit_code == 0
        assert runner.invoke(cli, ["worker-probe", "ready"]).exit_code == 0
        stale = time.time() - 120
        os.utime(heartbeat, (stale, stale))
        assert runner.invoke(cli, ["worker-probe", "live", "--max-age", "60"]).exit_code == 1
        assert runner.invoke(cli, ["worker-probe", "nope"]).exit_code == 2
    finally:
        get_settings.cache_clear()
