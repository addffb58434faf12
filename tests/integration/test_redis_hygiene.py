"""The run's Redis hygiene check (tests/conftest.py) catches a database that was not given."""

from __future__ import annotations

from typing import Any

import redis


def test_a_connection_to_a_database_not_given_is_caught(redis_url: str, redis_guard: Any) -> None:
    given = redis.Redis.from_url(redis_url)
    kwargs = given.connection_pool.connection_kwargs
    other = (int(kwargs["db"]) + 1) % 16
    assert redis_guard.foreign() == {}
    stray = redis.Redis(host=kwargs["host"], port=kwargs["port"], db=other)
    try:
        stray.ping()  # a PING writes nothing, so the other database stays as it was
        assert list(redis_guard.foreign()) == [other]
    finally:
        stray.close()
        given.close()
        redis_guard.forget(other)  # caught on purpose: the session-end check must pass
