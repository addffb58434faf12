"""A Redis lock that keeps the same scan for the same date from running twice at once.

The lock has a short TTL and a watchdog thread renews it while its holder runs, so a worker killed
with SIGKILL frees it within one TTL instead of blocking the redelivered task for an hour.
Release and renew only act when the token still matches (compare-and-delete in Lua).
"""

from __future__ import annotations

import threading
import uuid
from types import TracebackType

import redis

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class LockBusy(RuntimeError):
    """Someone else holds the lock; the caller retries later."""

    def __init__(self, key: str, holder: str | None = None) -> None:
        # ``args`` holds only the message, so a result backend can rebuild the exception from it.
        message = key if key.startswith("lock ") else f"lock {key} is held by {holder or '?'}"
        super().__init__(message)
        self.key = key
        self.holder = holder


class RedisLock:
    """``with RedisLock(client, key, owner="run-1"):`` — raises :class:`LockBusy` when taken."""

    def __init__(
        self, client: redis.Redis, key: str, *, owner: str = "", ttl_s: float = 30.0
    ) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(int(ttl_s * 1000), 100)
        self.token = f"{owner}|{uuid.uuid4().hex}"
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.lost = False

    def acquire(self) -> None:
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            holder = self.client.get(self.key)
            text = holder.decode() if isinstance(holder, bytes) else holder
            raise LockBusy(self.key, text.split("|")[0] if text else None)
        self._stop.clear()
        self._watchdog = threading.Thread(
            target=self._renew_loop, name=f"lock-renew:{self.key}", daemon=True
        )
        self._watchdog.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                if not self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms):
                    self.lost = True  # expired while we ran (e.g. a long Redis outage)
                    return
            except redis.RedisError:
                continue  # transient; the next beat retries before the TTL runs out

    def release(self) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=2)
        self.client.eval(_RELEASE, 1, self.key, self.token)

    def held(self) -> bool:
        value = self.client.get(self.key)
        return (value.decode() if isinstance(value, bytes) else value) == self.token

    def __enter__(self) -> RedisLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
