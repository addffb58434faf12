"""The Gemini client and provider pieces that need no server: one client per process and
configuration, no client without a key, retryDelay parsing, the in-process limits."""

from __future__ import annotations

import time

import pytest

from krstock.ai.gemini import API_VERSION, gemini_client, gemini_provider, retry_delay_s
from krstock.ai.limits import Limiter, OverLimit
from krstock.config import Settings


def test_one_long_lived_client_per_configuration() -> None:
    settings = Settings(gemini_api_key="k1", gemini_base_url="http://127.0.0.1:9")
    first = gemini_client(settings)
    assert first is not None and gemini_client(settings) is first
    options = first._api_client._http_options
    assert options.api_version == API_VERSION and options.timeout == 30_000
    assert options.retry_options is not None and 429 not in (
        options.retry_options.http_status_codes or []
    )
    other = gemini_client(Settings(gemini_api_key="k2", gemini_base_url="http://127.0.0.1:9"))
    assert other is not first


def test_no_key_no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "KRSTOCK_GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert gemini_client(Settings(gemini_api_key="  ")) is None
    assert gemini_provider(Settings()) is None


def test_the_key_is_read_from_gemini_api_key_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRSTOCK_GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    key = Settings().ai.gemini_api_key
    assert key is not None and key.get_secret_value() == "from-env"


@pytest.mark.parametrize(
    ("details", "seconds"),
    [
        ({"error": {"details": [{"@type": "x.RetryInfo", "retryDelay": "17s"}]}}, 17.0),
        ({"error": {"details": [{"retryDelay": "1.5s"}]}}, 1.5),
        ({"error": {"details": []}}, None),
        ({"error": {"message": "quota"}}, None),
        (None, None),
    ],
)
def test_retry_delay_is_read_from_the_error_body(details: object, seconds: float | None) -> None:
    assert retry_delay_s(details) == seconds


def test_in_process_limits_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        redis_prefix=f"krstock-unit-{time.monotonic_ns()}",
        llm_requests_per_min=60,
        llm_burst_s=1,
        llm_requests_per_day=2,
    )
    limiter = Limiter(settings, "gemini", None)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(limiter, "sleep", sleep)
    assert limiter.acquire(10, time.monotonic() + 5) == 0.0
    limiter.acquire(10, time.monotonic() + 5)  # the bucket of one is empty: waits ~1 s
    assert slept and 0 < slept[0] <= 1.0
    limiter.cool_down(30)
    with pytest.raises(OverLimit, match="cooldown"):
        limiter.acquire(10, time.monotonic() + 1)
    limiter.spent(2, 0.01)
    assert "daily request budget" in (limiter.budget_problem() or "")


def test_tokens_used_beyond_the_estimate_are_owed_to_the_bucket() -> None:
    settings = Settings(
        redis_prefix=f"krstock-unit-{time.monotonic_ns()}",
        llm_requests_per_min=6000,
        llm_tokens_per_min=60_000,  # 1,000 a second, a bucket of 1,000
        llm_burst_s=1,
    )
    limiter = Limiter(settings, "gemini", None)
    assert limiter.acquire(10, time.monotonic() + 5) == 0.0
    limiter.settle(estimated=10, actual=2_010)  # the answer used 2,000 more than estimated
    names = [f"{limiter.key}:rpm", f"{limiter.key}:tpm"]
    wait = limiter.store.take(names, limiter.rates.buckets(10))
    assert 0.9 < wait < 1.2  # about 1,010 tokens of debt at 1,000 a second
