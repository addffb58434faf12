"""Per-user chat memory and history in Redis, for the chatbot routes.

Both expire 90 days after the user's last write; the history keeps the last 50 messages. Redis
failures are 503s that say so (the chat has nothing to fall back on).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
import redis

from krstock.api.infra.errors import ApiError

HISTORY_KEEP = 50
KEEP_S = 90 * 24 * 3600  # a user silent for 90 days starts afresh
_USER = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def user_id(raw: str | None) -> str:
    value = (raw or "default").strip()
    if not _USER.match(value):
        raise ApiError(400, "invalid user id: 1-64 characters of letters, digits, _ . @ -")
    return value


class ChatStore:
    """Memory and history per user in Redis."""

    def __init__(self, client: redis.Redis | None, user: str) -> None:
        if client is None:
            raise ApiError(503, "chat memory needs Redis; set KRSTOCK_REDIS_URL")
        self.client = client
        self.memory_key = f"krstock:chat:{user}:memory"
        self.history_key = f"krstock:chat:{user}:history"

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise ApiError(503, f"chat storage unavailable: {type(exc).__name__}") from exc

    def memory(self) -> dict[str, Any]:
        raw = self._call(self.client.hgetall, self.memory_key)
        return {k.decode(): orjson.loads(v) for k, v in raw.items()}

    def remember(self, updates: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        current = self.memory()
        mapping: dict[Any, Any] = {}
        for key, value in updates.items():
            key = str(key)[:64]
            created = current.get(key, {}).get("created_at", now)
            mapping[key] = orjson.dumps({"value": value, "created_at": created, "updated_at": now})
        if mapping:
            pipe = self.client.pipeline()
            pipe.hset(self.memory_key, mapping=mapping)
            pipe.expire(self.memory_key, KEEP_S)
            self._call(pipe.execute)
        return self.memory()

    def forget(self, key: str | None = None) -> None:
        if key is None:
            self._call(self.client.delete, self.memory_key)
        else:
            self._call(self.client.hdel, self.memory_key, key)

    def history(self) -> list[dict[str, Any]]:
        raw = self._call(self.client.lrange, self.history_key, 0, -1)
        return [orjson.loads(item) for item in raw]

    def append(self, role: str, content: str) -> None:
        entry = orjson.dumps(
            {"role": role, "content": content, "timestamp": datetime.now(UTC).isoformat()}
        )
        pipe = self.client.pipeline()
        pipe.rpush(self.history_key, entry)
        pipe.ltrim(self.history_key, -HISTORY_KEEP, -1)
        pipe.expire(self.history_key, KEEP_S)
        self._call(pipe.execute)

    def clear_history(self) -> None:
        self._call(self.client.delete, self.history_key)
