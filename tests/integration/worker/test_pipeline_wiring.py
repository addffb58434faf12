"""Event wiring on real Redis/Celery/PostgreSQL, and notifications against a local fake server
speaking the webhook and Telegram Bot API protocols."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from pipeline_harness import private_redis
from sqlalchemy import Engine, text

from krstock.bus.events import AIAnalysisCompleted, MarketDataUpdated, SignalCreated
from krstock.config import Settings, WorkerSection
from krstock.worker.celery_app import create_app
from krstock.worker.notify import Notifier, NotifyError
from krstock.worker.reactions import HandlerDeps, handlers_for

pytestmark = pytest.mark.integration

DAY = date(2026, 1, 5)


def queued_tasks(client: redis.Redis, queue: str) -> list[tuple[str, dict[str, Any]]]:
    """(task name, kwargs) of the Celery messages waiting in ``queue`` (protocol 2, JSON)."""
    out = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        body = json.loads(__import__("base64").b64decode(message["body"]))
        out.append((message["headers"]["task"], body[1]))
    return out


def test_market_data_enqueues_scans_and_signals_enqueue_one_analysis(tmp_path: Path) -> None:
    with private_redis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        app = create_app(Settings(redis_url=server.url))
        deps = HandlerDeps(
            send_task=app.send_task,
            client=client,
            engine_factory=lambda: pytest.fail("no database needed"),
            notifier=Notifier(WorkerSection()),
            prefix="wt",
        )
        scanner = handlers_for("scanner", deps)
        scanner["MarketDataUpdated"](
            MarketDataUpdated(start=DAY, end=DAY, source="sample", pipeline_id="daily-1")
        )
        assert client.llen("scan") == 0  # the pipeline canvas runs its own scans
        scanner["MarketDataUpdated"](MarketDataUpdated(start=DAY, end=DAY, source="sample"))
        queued = queued_tasks(client, "scan")
        assert {name for name, _ in queued} == {"krstock.run_scan"}
        assert sorted(kw["kind"] for _, kw in queued) == ["closing-bet", "vcp", "vcp-legacy"]
        assert {kw["day"] for _, kw in queued} == {"2026-01-05"}
        analyzer = handlers_for("analyzer", deps)
        for ticker in ("005930", "000660", "035720"):
            analyzer["SignalCreated"](
                SignalCreated(day=DAY, strategy="vcp", ticker=ticker, score=80.0)
            )
        # Debounced: one analysis for the burst, on the ai queue.
        assert [name for name, _ in queued_tasks(client, "ai")] == ["krstock.run_analyze"]
        with pytest.raises(ValueError, match="unknown service group"):
            handlers_for("nope", deps)


def test_analysis_completed_updates_the_signal(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        signal_id = conn.execute(
            text(
                "INSERT INTO signals (strategy, ticker, signal_date, status, score_breakdown, "
                "payload) VALUES ('vcp', '005930', :d, 'OPEN', '{}', '{\"keep\": 1}') "
                "RETURNING id"
            ),
            {"d": DAY},
        ).scalar_one()
    deps = HandlerDeps(
        send_task=lambda *a, **k: pytest.fail("nothing to enqueue"),
        client=redis.Redis(),
        engine_factory=lambda: db_engine,
        notifier=Notifier(WorkerSection()),
    )
    event = AIAnalysisCompleted(
        day=DAY,
        ticker="005930",
        signal_id=signal_id,
        analysis_source="rules",
        action="BUY",
        confidence=60.0,
    )
    handlers_for("signals", deps)["AIAnalysisCompleted"](event)
    with db_engine.connect() as conn:
        payload = conn.execute(
            text("select payload from signals where id = :i"), {"i": signal_id}
        ).scalar_one()
    assert payload["keep"] == 1
    assert payload["ai"] == {
        "analysis_source": "rules",
        "action": "BUY",
        "confidence": 60.0,
        "event_id": event.event_id,
    }


class _FakeEndpoints(BaseHTTPRequestHandler):
    """A webhook receiver and the Telegram Bot API's sendMessage, on 127.0.0.1."""

    requests: list[tuple[str, dict[str, Any]]]
    token = "123:ABC"
    chat = "-100777"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, body))  # type: ignore[attr-defined]
        if self.path == "/hook":
            self._reply(204, None)
        elif self.path == f"/bot{self.token}/sendMessage":
            if body.get("chat_id") != self.chat:
                self._reply(
                    400,
                    {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
                )
            elif not body.get("text") or len(body["text"]) > 4096:
                self._reply(
                    400, {"ok": False, "error_code": 400, "description": "Bad Request: text"}
                )
            else:
                self._reply(200, {"ok": True, "result": {"message_id": 1, "text": body["text"]}})
        else:
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    def _reply(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def fake_endpoints() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeEndpoints)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_notifications_are_off_by_default() -> None:
    notifier = Notifier(WorkerSection())
    assert notifier.channels == []
    assert notifier.signal_created(SignalCreated(day=DAY, strategy="vcp", ticker="005930")) == []


def test_signal_created_goes_to_webhook_and_telegram(fake_endpoints: ThreadingHTTPServer) -> None:
    base = f"http://127.0.0.1:{fake_endpoints.server_address[1]}"
    settings = WorkerSection(
        notify_webhook_url=f"{base}/hook",
        telegram_bot_token=_FakeEndpoints.token,
        telegram_chat_id=_FakeEndpoints.chat,
        telegram_api_base=base,
    )
    event = SignalCreated(
        day=DAY, strategy="closing-bet", ticker="005930", grade="S", score=11, entry_price=71500
    )
    assert Notifier(settings).signal_created(event) == ["webhook", "telegram"]
    (hook_path, hook), (tg_path, tg) = fake_endpoints.requests  # type: ignore[attr-defined]
    assert hook_path == "/hook" and hook["type"] == "SignalCreated" and hook["version"] == 1
    assert hook["event_id"] == event.event_id and hook["ticker"] == "005930"
    assert tg_path == f"/bot{_FakeEndpoints.token}/sendMessage"
    assert tg["chat_id"] == _FakeEndpoints.chat
    assert tg["text"] == "2026-01-05 [closing-bet] 005930 · grade S · score 11 · entry 71,500 KRW"

    long_text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))  # ~9,900 characters
    assert Notifier(settings).send_telegram(long_text) == 3

    wrong_chat = settings.model_copy(update={"telegram_chat_id": "42"})
    with pytest.raises(NotifyError, match="chat not found"):
        Notifier(wrong_chat).send_telegram("hello")


def test_unreachable_webhook_raises_so_the_bus_retries() -> None:
    import httpx

    settings = WorkerSection(notify_webhook_url="http://127.0.0.1:9/hook")
    with pytest.raises(httpx.TransportError):
        Notifier(settings).signal_created(SignalCreated(day=DAY, strategy="vcp", ticker="000660"))


def test_scheduled_task_plans_on_the_calendar_and_enqueues(tmp_path: Path) -> None:
    from krstock.domain.calendar import KrxCalendar, kst_now
    from krstock.worker import tasks
    from krstock.worker.context import WorkerContext, set_context
    from krstock.worker.schedules import default_jobs, plan_job

    with private_redis(tmp_path) as server:
        settings = Settings(redis_url=server.url)
        app = create_app(settings)
        app.set_current()
        set_context(WorkerContext(settings))
        try:
            client = redis.Redis.from_url(server.url)
            backfill = tasks.scheduled.apply(kwargs={"job": "backfill"}).get()
            assert backfill["action"] == "enqueue"
            [(name, kwargs)] = queued_tasks(client, "collect")
            assert name == "krstock.run_collect" and set(kwargs) == {"start", "end"}
            expected = plan_job(default_jobs()["vcp"], kst_now(), KrxCalendar())
            vcp = tasks.scheduled.apply(kwargs={"job": "vcp"}).get()
            assert vcp["action"] == expected.action
            queue = "maintenance" if expected.action == "defer" else "scan"
            queued = queued_tasks(client, queue)
            if expected.action == "skip":
                assert queued == []
            elif expected.action == "enqueue":
                assert queued == [("krstock.run_scan", expected.kwargs)]
            else:  # exam day: the trigger re-fires itself after the delayed close
                assert [name for name, _ in queued] == ["krstock.scheduled"]
            bad = tasks.scheduled.apply(kwargs={"job": "hourly"})
            assert isinstance(bad.result, ValueError)
        finally:
            set_context(None)
