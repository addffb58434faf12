"""Shared LLM limits: a Redis token bucket per provider project (requests and tokens per
minute), a cooldown set from a 429's retryDelay, and daily request and money budgets.

Gemini's limits are per Google Cloud project, and Celery's ``rate_limit`` is per worker, so the
state lives in Redis where every worker process sees it. The bucket is one Lua script (atomic,
Redis's clock). Without Redis (a laptop demo with a key) the same rules run in this process only.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from krstock.config import Settings

_TAKE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local wait = 0
local state = {}
for i = 1, #KEYS do
  local rate = tonumber(ARGV[(i - 1) * 3 + 1]) / 1000.0
  local cap = tonumber(ARGV[(i - 1) * 3 + 2])
  local need = tonumber(ARGV[(i - 1) * 3 + 3])
  local h = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(h[1]) or cap
  local ts = tonumber(h[2]) or now_ms
  tokens = math.min(cap, tokens + math.max(0, now_ms - ts) * rate)
  state[i] = tokens
  if tokens < need then
    wait = math.max(wait, math.ceil((need - tokens) / rate))
  end
end
for i = 1, #KEYS do
  local need = tonumber(ARGV[(i - 1) * 3 + 3])
  local tokens = state[i]
  if wait == 0 then tokens = tokens - need end
  redis.call('HSET', KEYS[i], 'tokens', tokens, 'ts', now_ms)
  redis.call('PEXPIRE', KEYS[i], 3600000)
end
return wait
"""


class OverLimit(Exception):
    """No call now: over a daily budget, or the wait for the bucket/cooldown is too long."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Rates:
    requests_per_min: float
    tokens_per_min: float
    burst_s: float  # the bucket holds this many seconds of its rate, not a minute's worth

    def buckets(self, tokens: int) -> list[tuple[float, float, float]]:
        """(rate per second, capacity, need) for the request and the token bucket."""
        out = []
        for per_min, need in ((self.requests_per_min, 1), (self.tokens_per_min, tokens)):
            rate = per_min / 60.0
            capacity = max(1.0, rate * self.burst_s)
            out.append((rate, capacity, min(float(need), capacity)))
        return out


class Store(Protocol):
    def take(self, names: list[str], buckets: list[tuple[float, float, float]]) -> float: ...
    def cooldown_left(self, name: str) -> float: ...
    def set_cooldown(self, name: str, seconds: float) -> None: ...
    def day_totals(self, name: str) -> tuple[int, float]: ...
    def add_day(self, name: str, requests: int, cost: float) -> None: ...
    def owe(self, name: str, tokens: float) -> None: ...


class RedisStore:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._take = redis.register_script(_TAKE)

    def take(self, names: list[str], buckets: list[tuple[float, float, float]]) -> float:
        args = [x for bucket in buckets for x in bucket]
        return float(self._take(keys=names, args=args)) / 1000.0

    def cooldown_left(self, name: str) -> float:
        ms = self.redis.pttl(name)
        return max(0.0, ms / 1000.0) if ms and ms > 0 else 0.0

    def set_cooldown(self, name: str, seconds: float) -> None:
        # Never shorten a cooldown another worker set.
        if seconds > self.cooldown_left(name):
            self.redis.set(name, "1", px=max(1, int(seconds * 1000)))

    def day_totals(self, name: str) -> tuple[int, float]:
        requests, cost = self.redis.hmget(name, "requests", "cost")
        return int(requests or 0), float(cost or 0.0)

    def owe(self, name: str, tokens: float) -> None:
        # A debt in the bucket (tokens may go negative): later takes wait for it.
        if self.redis.exists(name):
            self.redis.hincrbyfloat(name, "tokens", -tokens)

    def add_day(self, name: str, requests: int, cost: float) -> None:
        pipe = self.redis.pipeline()
        pipe.hincrby(name, "requests", requests)
        pipe.hincrbyfloat(name, "cost", cost)
        pipe.expire(name, 3 * 86400)
        pipe.execute()


class LocalStore:
    """The same rules in one process (no Redis configured)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[str, tuple[float, float]] = {}
        self.cooldowns: dict[str, float] = {}
        self.days: dict[str, tuple[int, float]] = {}

    def take(self, names: list[str], buckets: list[tuple[float, float, float]]) -> float:
        with self.lock:
            now = time.monotonic()
            state = []
            wait = 0.0
            for name, (rate, cap, need) in zip(names, buckets, strict=True):
                tokens, ts = self.buckets.get(name, (cap, now))
                tokens = min(cap, tokens + (now - ts) * rate)
                state.append(tokens)
                if tokens < need:
                    wait = max(wait, (need - tokens) / rate)
            for name, tokens, (_, _, need) in zip(names, state, buckets, strict=True):
                self.buckets[name] = (tokens - need if wait == 0 else tokens, now)
            return wait

    def cooldown_left(self, name: str) -> float:
        return max(0.0, self.cooldowns.get(name, 0.0) - time.monotonic())

    def set_cooldown(self, name: str, seconds: float) -> None:
        until = time.monotonic() + seconds
        self.cooldowns[name] = max(until, self.cooldowns.get(name, 0.0))

    def day_totals(self, name: str) -> tuple[int, float]:
        return self.days.get(name, (0, 0.0))

    def owe(self, name: str, tokens: float) -> None:
        with self.lock:
            if name in self.buckets:
                have, ts = self.buckets[name]
                self.buckets[name] = (have - tokens, ts)

    def add_day(self, name: str, requests: int, cost: float) -> None:
        with self.lock:
            r, c = self.days.get(name, (0, 0.0))
            self.days[name] = (r + requests, c + cost)


_local = LocalStore()


class Limiter:
    """The limits of one provider project."""

    def __init__(self, settings: Settings, provider: str, redis: Any | None = None) -> None:
        ai = settings.ai
        self.settings = settings
        self.store: Store = RedisStore(redis) if redis is not None else _local
        self.key = f"{settings.worker.redis_prefix}:llm:{provider}:{ai.llm_project}"
        self.rates = Rates(ai.llm_requests_per_min, ai.llm_tokens_per_min, ai.llm_burst_s)
        self.max_wait_s = ai.llm_max_wait_s
        self.sleep = time.sleep

    def _day_key(self) -> str:
        return f"{self.key}:day:{datetime.now(UTC):%Y%m%d}"

    def budget_problem(self) -> str | None:
        """Why no call may be made today (requests or money spent), or None."""
        ai = self.settings.ai
        requests, cost = self.store.day_totals(self._day_key())
        if requests >= ai.llm_requests_per_day:
            return f"daily request budget reached ({requests} of {ai.llm_requests_per_day})"
        if cost >= ai.llm_budget_usd_per_day:
            return f"daily budget reached (${cost:.4f} of ${ai.llm_budget_usd_per_day:.2f})"
        return None

    def acquire(self, tokens: int, deadline: float) -> float:
        """Wait for the cooldown and the buckets; the seconds waited. ``OverLimit`` when the
        wait would pass ``deadline`` (a monotonic time)."""
        waited = 0.0
        names = [f"{self.key}:rpm", f"{self.key}:tpm"]
        while True:
            cooling = self.store.cooldown_left(f"{self.key}:cooldown")
            wait = cooling or self.store.take(names, self.rates.buckets(tokens))
            if wait <= 0:
                return waited
            if time.monotonic() + wait > deadline:
                what = "cooldown after a 429" if cooling else "rate limit"
                raise OverLimit("rate_limited", f"{what}: {wait:.1f}s exceeds the wait allowed")
            self.sleep(wait)
            waited += wait

    def settle(self, estimated: int, actual: int) -> None:
        """Charge the token bucket what a call really used beyond its estimate."""
        if actual > estimated:
            self.store.owe(f"{self.key}:tpm", float(actual - estimated))

    def cool_down(self, seconds: float) -> None:
        self.store.set_cooldown(f"{self.key}:cooldown", seconds)

    def spent(self, requests: int, cost_usd: float) -> None:
        self.store.add_day(self._day_key(), requests, cost_usd)
