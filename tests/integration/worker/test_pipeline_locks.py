"""The distributed lock and the token bucket on the real Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from krstock.worker.locks import LockBusy, RedisLock
from krstock.worker.ratelimit import RateLimitTimeout, TokenBucket

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url: str) -> Iterator[tuple[redis.Redis, str]]:
    c = redis.Redis.from_url(redis_url)
    prefix = f"lk{uuid.uuid4().hex[:8]}"
    yield c, prefix
    for key in c.scan_iter(f"{prefix}*"):
        c.delete(key)


def test_lock_excludes_a_second_holder_and_names_the_first(client) -> None:  # type: ignore[no-untyped-def]
    c, prefix = client
    key = f"{prefix}:lock:scan:vcp:2026-01-05"
    with RedisLock(c, key, owner="run-a", ttl_s=1.0) as held:
        with pytest.raises(LockBusy, match="run-a") as busy:
            RedisLock(c, key, owner="run-b").acquire()
        assert busy.value.holder == "run-a"
        time.sleep(1.3)  # longer than the TTL: the watchdog kept it alive
        assert held.held()
        # Another day is another lock.
        with RedisLock(c, f"{prefix}:lock:scan:vcp:2026-01-06", owner="run-c") as other_day:
            assert other_day.held()
    assert c.get(key) is None
    with RedisLock(c, key, owner="run-b") as after_release:
        assert after_release.held()


def test_a_dead_holders_lock_expires_and_release_never_frees_someone_elses(client) -> None:  # type: ignore[no-untyped-def]
    c, prefix = client
    key = f"{prefix}:lock:x"
    # A holder that died (no watchdog) frees the key after its TTL.
    c.set(key, "dead-run|token", px=300)
    with pytest.raises(LockBusy):
        RedisLock(c, key, owner="new").acquire()
    time.sleep(0.35)
    lock = RedisLock(c, key, owner="new", ttl_s=5)
    lock.acquire()
    stale = RedisLock(c, key, owner="old")
    stale.release()  # token mismatch: must not delete the new holder's lock
    assert lock.held()
    lock.release()


def test_bucket_spaces_requests_and_allows_a_burst_up_to_capacity(client) -> None:  # type: ignore[no-untyped-def]
    c, prefix = client
    strict = TokenBucket(c, "llm", rate_per_s=10.0, prefix=prefix)
    assert strict.try_acquire() == 0.0
    wait = strict.try_acquire()
    assert 0.05 < wait <= 0.1  # the next token is ~100 ms away at 10/s
    started = time.monotonic()
    for _ in range(3):
        strict.acquire()
    assert time.monotonic() - started >= 0.25
    bursty = TokenBucket(c, "krx", rate_per_s=1.0, capacity=3, prefix=prefix)
    assert [bursty.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bursty.try_acquire() > 0.5
    with pytest.raises(RateLimitTimeout):
        bursty.acquire(timeout_s=0.1)
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucket(c, "bad", rate_per_s=0)
