"""Per-user chat memory and history in Redis, for the chatbot routes, with hard bounds.

Who the user is comes from the server, never from a free header: the verified API key's prefix
(``key:<prefix>``) or, for anonymous chat where allowed, the client address (``ip:<addr>``). An
``X-User-Id`` only picks a sub-namespace under that principal, so it never crosses users.

Bounds (``docs/security.md``): a memory value, the items and the payload bytes per user are
capped before anything is written; every write refreshes a TTL; and each pool (key holders,
anonymous) has a total cap, enforced by evicting the least recently written users first, so
anonymous traffic can neither grow Redis beyond its pool nor evict key holders' chats.
Redis failures are 503s that say so (the chat has nothing to fall back on).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import redis

from krstock.api.infra.errors import ApiError
from krstock.config import ApiSection

HISTORY_KEEP = 50
# Each user counts at least this much against the pool: Redis's own per-key overhead.
MIN_ACCOUNTED_BYTES = 1024
_SUB = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")

# Records a user's new size, drops expired users, then evicts the least recently written users
# until the pool fits its cap. Atomic, so concurrent writers cannot drift the total.
# KEYS: sizes (hash user -> bytes), recent (zset user -> last write), total (counter).
# ARGV: user, size, now (microseconds), cap, key prefix, ttl (seconds).
_ACCOUNT = """
local function drop(user)
  local size = tonumber(redis.call('HGET', KEYS[1], user) or '0')
  redis.call('DEL', ARGV[5] .. user .. ':memory', ARGV[5] .. user .. ':history')
  redis.call('HDEL', KEYS[1], user)
  redis.call('ZREM', KEYS[2], user)
  return redis.call('DECRBY', KEYS[3], size)
end
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local size = tonumber(ARGV[2])
local total = redis.call('INCRBY', KEYS[3], size - old)
if size > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], size)
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
for _, user in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3] - ARGV[6] * 1000000)) do
  total = drop(user)
end
local evicted = 0
while total > tonumber(ARGV[4]) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 1)
  local victim = oldest[1]
  if victim == ARGV[1] then victim = oldest[2] end
  if not victim then break end
  total = drop(victim)
  evicted = evicted + 1
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
return evicted
"""


@dataclass(frozen=True)
class ChatLimits:
    ttl_s: int
    value_max_bytes: int
    items_max: int
    user_max_bytes: int
    pool_max_bytes: int


@dataclass(frozen=True)
class ChatIdentity:
    pool: str  # "key" (API key holders) or "anon" (client addresses)
    user: str  # "key:<prefix>[:<sub>]" or "ip:<addr>[:<sub>]"


def sub_namespace(raw: str | None) -> str | None:
    """The optional ``X-User-Id`` (or body ``user_id``): a name under the caller's principal."""
    value = (raw or "").strip()
    if not value or value == "default":
        return None
    if not _SUB.match(value):
        raise ApiError(400, "invalid user id: 1-64 characters of letters, digits, _ . @ -")
    return value


def identity(key_prefix: str | None, client_ip: str, sub: str | None) -> ChatIdentity:
    pool, base = ("key", f"key:{key_prefix}") if key_prefix else ("anon", f"ip:{client_ip}")
    return ChatIdentity(pool, f"{base}:{sub}" if sub else base)


def limits_for(api: ApiSection, pool: str) -> ChatLimits:
    anonymous = pool == "anon"
    return ChatLimits(
        ttl_s=api.chat_anonymous_ttl_s if anonymous else api.chat_ttl_s,
        value_max_bytes=api.chat_value_max_bytes,
        items_max=api.chat_memory_items_max,
        user_max_bytes=api.chat_user_max_bytes,
        pool_max_bytes=api.chat_anonymous_max_bytes if anonymous else api.chat_keyed_max_bytes,
    )


def _too_large(message: str) -> ApiError:
    return ApiError(413, message, "payload_too_large")


class ChatStore:
    """Memory and history of one chat identity in Redis, within ``limits``."""

    def __init__(
        self, client: redis.Redis | None, who: ChatIdentity, limits: ChatLimits, prefix: str
    ) -> None:
        if client is None:
            raise ApiError(503, "chat memory needs Redis; set KRSTOCK_REDIS_URL")
        self.client = client
        self.who = who
        self.limits = limits
        self.prefix = prefix
        self.memory_key = f"{prefix}:{who.user}:memory"
        self.history_key = f"{prefix}:{who.user}:history"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise ApiError(503, f"chat storage unavailable: {type(exc).__name__}") from exc

    def _raw_memory(self) -> dict[str, bytes]:
        raw = self._call(self.client.hgetall, self.memory_key)
        return {k.decode(): v for k, v in raw.items()}

    def _raw_history(self) -> list[bytes]:
        return list(self._call(self.client.lrange, self.history_key, 0, -1))

    def memory(self) -> dict[str, Any]:
        return {k: orjson.loads(v) for k, v in self._raw_memory().items()}

    def history(self) -> list[dict[str, Any]]:
        return [orjson.loads(item) for item in self._raw_history()]

    def remember(self, updates: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        stored = self._raw_memory()
        mapping: dict[str, bytes] = {}
        for key, value in updates.items():
            key = str(key)[:64]
            created = orjson.loads(stored[key])["created_at"] if key in stored else now
            entry = orjson.dumps({"value": value, "created_at": created, "updated_at": now})
            if len(entry) > self.limits.value_max_bytes:
                raise _too_large(
                    f"memory item {key!r} is too large: at most "
                    f"{self.limits.value_max_bytes} bytes each"
                )
            mapping[key] = entry
        if not mapping:
            return self.memory()
        merged = {**stored, **mapping}
        if len(merged) > self.limits.items_max:
            raise _too_large(
                f"chat memory holds at most {self.limits.items_max} items; delete some first"
            )
        size = _memory_bytes(merged) + _history_bytes(self._raw_history())
        if size > self.limits.user_max_bytes:
            raise _too_large(
                f"chat memory is full: at most {self.limits.user_max_bytes} bytes per user"
            )
        pipe = self.client.pipeline()
        pipe.hset(self.memory_key, mapping=mapping)  # type: ignore[arg-type]
        pipe.expire(self.memory_key, self.limits.ttl_s)
        pipe.expire(self.history_key, self.limits.ttl_s)
        self._call(pipe.execute)
        self._account(size)
        return self.memory()

    def forget(self, key: str | None = None) -> None:
        if key is None:
            self._call(self.client.delete, self.memory_key)
        else:
            self._call(self.client.hdel, self.memory_key, key)
        self._account(self._size())

    def append(self, role: str, content: str, source: str | None = None) -> None:
        """One message; a model's reply also records who wrote it (``source``)."""
        record = {"role": role, "content": content, "timestamp": datetime.now(UTC).isoformat()}
        if source is not None:
            record["source"] = source
        entry = orjson.dumps(record)
        pipe = self.client.pipeline()
        pipe.rpush(self.history_key, entry)
        pipe.ltrim(self.history_key, -HISTORY_KEEP, -1)
        pipe.expire(self.history_key, self.limits.ttl_s)
        pipe.expire(self.memory_key, self.limits.ttl_s)
        self._call(pipe.execute)
        self._account(self._trim_history_to_fit())

    def clear_history(self) -> None:
        self._call(self.client.delete, self.history_key)
        self._account(self._size())

    def _size(self) -> int:
        return _memory_bytes(self._raw_memory()) + _history_bytes(self._raw_history())

    def _trim_history_to_fit(self) -> int:
        """Drops the oldest messages while this user is over its byte cap; the new size."""
        memory = _memory_bytes(self._raw_memory())
        history = self._raw_history()
        while history and memory + _history_bytes(history) > self.limits.user_max_bytes:
            self._call(self.client.lpop, self.history_key)
            history.pop(0)
        return memory + _history_bytes(history)

    def _account(self, size: int) -> None:
        """Records this user's size in its pool and evicts the oldest users over the pool cap."""
        pool = f"{self.prefix}:pool:{self.who.pool}"
        accounted = max(size, MIN_ACCOUNTED_BYTES) if size else 0
        script = self.client.register_script(_ACCOUNT)
        args = [
            self.who.user,
            accounted,
            time.time_ns() // 1000,
            self.limits.pool_max_bytes,
            f"{self.prefix}:",
            self.limits.ttl_s,
        ]
        self._call(script, keys=[f"{pool}:sizes", f"{pool}:recent", f"{pool}:total"], args=args)


def _memory_bytes(memory: dict[str, bytes]) -> int:
    return sum(len(k.encode()) + len(v) for k, v in memory.items())


def _history_bytes(history: list[bytes]) -> int:
    return sum(len(item) for item in history)
