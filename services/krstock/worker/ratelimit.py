"""A token bucket in Redis shared by every worker process (LLM calls, KRX scraping).

The whole refill-and-take step is one Lua script using the Redis server clock, so processes on
different machines agree on time and two callers can never take the same token.
"""

from __future__ import annotations

import time

import redis

# KEYS[1] bucket hash; ARGV: rate (tokens/s), capacity, tokens wanted.
# Returns 0 when the tokens were taken, else the milliseconds to wait before trying again.
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
local wait = 0
if tokens >= wanted then
  tokens = tokens - wanted
else
  wait = math.ceil((wanted - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 60000)
return wait
"""


class RateLimitTimeout(TimeoutError):
    """No token within the caller's deadline."""


class TokenBucket:
    """``TokenBucket(client, "llm", rate_per_s=1.0).acquire()`` blocks until a token is free.

    ``capacity`` is the burst size; 1 means requests are spaced at least ``1/rate`` apart.
    """

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        *,
        rate_per_s: float,
        capacity: float = 1.0,
        prefix: str = "krstock",
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.client = client
        self.key = f"{prefix}:ratelimit:{name}"
        self.rate = rate_per_s
        self.capacity = capacity
        self._script = client.register_script(_TAKE)

    def try_acquire(self, tokens: float = 1.0) -> float:
        """Take tokens if available; return 0.0, or the seconds to wait before retrying."""
        wait_ms = self._script(keys=[self.key], args=[self.rate, self.capacity, tokens])
        return int(wait_ms) / 1000.0

    def acquire(self, tokens: float = 1.0, timeout_s: float | None = None) -> float:
        """Block until the tokens are taken; return how long it waited."""
        started = time.monotonic()
        while True:
            wait = self.try_acquire(tokens)
            if wait == 0:
                return time.monotonic() - started
            if timeout_s is not None and time.monotonic() - started + wait > timeout_s:
                raise RateLimitTimeout(f"{self.key}: no token within {timeout_s} s")
            time.sleep(wait)
