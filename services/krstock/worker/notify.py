"""Notifications for new signals: a JSON webhook and the Telegram Bot API, both off by default.

Each is enabled only by its settings (``KRSTOCK_NOTIFY_WEBHOOK_URL``; ``KRSTOCK_TELEGRAM_BOT_TOKEN``
+ ``KRSTOCK_TELEGRAM_CHAT_ID``). A failed send raises, so the bus retries and finally
dead-letters the event instead of losing it silently.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from krstock.bus.events import SignalCreated
from krstock.config import WorkerSection

log = logging.getLogger(__name__)

TELEGRAM_CHUNK = 3500  # the monolith split messages under ~3,500 characters (limit is 4,096)


class NotifyError(RuntimeError):
    """A notification endpoint refused or failed the message."""


def signal_text(event: SignalCreated) -> str:
    parts = [f"[{event.strategy}] {event.ticker}"]
    if event.grade:
        parts.append(f"grade {event.grade}")
    if event.score is not None:
        parts.append(f"score {event.score:g}")
    if event.entry_price is not None:
        parts.append(f"entry {event.entry_price:,.0f} KRW")
    return f"{event.day.isoformat()} " + " · ".join(parts)


def chunks(text: str, size: int = TELEGRAM_CHUNK) -> list[str]:
    """Split on line breaks into pieces of at most ``size`` characters."""
    out: list[str] = []
    current = ""
    for line in text.splitlines() or [""]:
        while len(line) > size:
            if current:
                out.append(current)
                current = ""
            out.append(line[:size])
            line = line[size:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > size:
            out.append(current)
            current = line
        else:
            current = candidate
    if current:
        out.append(current)
    return out


class Notifier:
    def __init__(self, settings: WorkerSection, client: httpx.Client | None = None) -> None:
        self.webhook_url = settings.notify_webhook_url
        self.telegram_token = settings.telegram_bot_token
        self.telegram_chat = settings.telegram_chat_id
        self.telegram_base = settings.telegram_api_base.rstrip("/")
        self.client = client or httpx.Client(timeout=10.0)

    @property
    def channels(self) -> list[str]:
        enabled = []
        if self.webhook_url:
            enabled.append("webhook")
        if self.telegram_token and self.telegram_chat:
            enabled.append("telegram")
        return enabled

    def send_webhook(self, payload: dict[str, Any]) -> None:
        assert self.webhook_url
        response = self.client.post(self.webhook_url, json=payload)
        if response.status_code >= 300:
            raise NotifyError(f"webhook answered HTTP {response.status_code}")

    def send_telegram(self, text: str) -> int:
        """Send ``text`` in chunks via ``sendMessage``; return how many messages went out."""
        url = f"{self.telegram_base}/bot{self.telegram_token}/sendMessage"
        sent = 0
        for piece in chunks(text):
            response = self.client.post(
                url,
                json={
                    "chat_id": self.telegram_chat,
                    "text": piece,
                    "disable_web_page_preview": True,
                },
            )
            body = response.json() if response.content else {}
            if response.status_code != 200 or not body.get("ok"):
                description = body.get("description", "") if isinstance(body, dict) else ""
                raise NotifyError(f"telegram sendMessage HTTP {response.status_code} {description}")
            sent += 1
        return sent

    def signal_created(self, event: SignalCreated) -> list[str]:
        """Notify every enabled channel; return the channels used (empty when all are off)."""
        used: list[str] = []
        if self.webhook_url:
            self.send_webhook(
                {"type": event.type, "version": event.version, **event.model_dump(mode="json")}
            )
            used.append("webhook")
        if self.telegram_token and self.telegram_chat:
            self.send_telegram(signal_text(event))
            used.append("telegram")
        return used
