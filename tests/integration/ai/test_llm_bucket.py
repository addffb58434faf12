"""The shared token bucket holds across worker processes: two processes taking from one
provider project's bucket together get no more than its rate."""

from __future__ import annotations

import itertools
import multiprocessing
import time
import uuid

import pytest

from krstock.ai.limits import Limiter, OverLimit
from krstock.config import Settings

pytestmark = pytest.mark.integration
RATE_PER_MIN = 120  # 2 requests per second
TAKES = 3


def _take(redis_url: str, prefix: str, out: multiprocessing.Queue) -> None:
    import redis

    settings = Settings(
        redis_prefix=prefix, llm_requests_per_min=RATE_PER_MIN, llm_burst_s=0.5, llm_max_wait_s=30
    )
    limiter = Limiter(settings, "gemini", redis.Redis.from_url(redis_url))
    for _ in range(TAKES):
        limiter.acquire(10, time.monotonic() + 30)
        out.put(time.time())


def test_two_processes_share_one_bucket(redis_url: str) -> None:
    prefix = f"krstock-test-bucket-{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = context.Queue()
    workers = [context.Process(target=_take, args=(redis_url, prefix, out)) for _ in range(2)]
    for worker in workers:
        worker.start()
    grants = sorted(out.get(timeout=60) for _ in range(2 * TAKES))
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    # 6 grants at 2/s with a bucket of one: at least 2.5 s from first to last, evenly spaced.
    assert grants[-1] - grants[0] >= 2.3, gaps
    assert min(gaps) >= 0.35, gaps


def test_a_cooldown_longer_than_the_wait_allowed_is_refused(redis_url: str) -> None:
    import redis

    settings = Settings(redis_prefix=f"krstock-test-cool-{uuid.uuid4().hex[:8]}")
    limiter = Limiter(settings, "gemini", redis.Redis.from_url(redis_url))
    limiter.cool_down(30)
    other = Limiter(settings, "gemini", redis.Redis.from_url(redis_url))  # another worker
    with pytest.raises(OverLimit, match="cooldown"):
        other.acquire(10, time.monotonic() + 1)


def test_tokens_beyond_the_estimate_are_owed_in_redis(redis_url: str) -> None:
    import redis

    settings = Settings(
        redis_prefix=f"krstock-test-owe-{uuid.uuid4().hex[:8]}",
        llm_requests_per_min=6000,
        llm_tokens_per_min=60_000,  # 1,000 a second, a bucket of 1,000
        llm_burst_s=1,
    )
    limiter = Limiter(settings, "gemini", redis.Redis.from_url(redis_url))
    assert limiter.acquire(10, time.monotonic() + 5) == 0.0
    limiter.settle(estimated=10, actual=2_010)
    other = Limiter(settings, "gemini", redis.Redis.from_url(redis_url))  # another worker
    names = [f"{other.key}:rpm", f"{other.key}:tpm"]
    assert 0.9 < other.store.take(names, other.rates.buckets(10)) < 1.2
