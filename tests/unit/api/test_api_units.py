"""Pure parts of the API: breaker, registry, keys, validation, cursors, formulas."""

from __future__ import annotations

import time

import pytest

from krstock.api.infra import apikeys, validation
from krstock.api.infra.client import CircuitBreaker
from krstock.api.infra.errors import ApiError, is_legacy_path
from krstock.api.infra.middleware import _route_template
from krstock.api.infra.registry import ServiceRegistry
from krstock.api.infra.responses import decode_cursor, encode_cursor, select_fields
from krstock.api.services.data_status import human_size
from krstock.api.services.serializers import finite
from krstock.config import ApiSection
from krstock.domain.vcp_ranking import gen0_final_score


def test_gen0_final_score_matches_the_monolith_worked_example() -> None:
    # monolith.md §2.1: score 82.5, contraction 0.41, foreign 1,036,584, inst −8,036 → 71.3
    assert gen0_final_score(82.5, 0.41, 1_036_584, -8_036, fresh=False) == 71.3
    assert gen0_final_score(82.5, 0.41, 1_036_584, -8_036, fresh=True) == 81.3
    # The flow term is capped at 30 (×2 = 60 points).
    assert gen0_final_score(0, 1.0, 10**9, 0, fresh=False) == 60.0


def test_breaker_opens_after_threshold_and_half_opens_after_reset() -> None:
    breaker = CircuitBreaker("x", failures=3, reset_s=0.05)
    for _ in range(2):
        breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    time.sleep(0.06)
    assert breaker.state == "half_open"
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()  # the trial failed: open again at once
    assert breaker.state == "open"
    time.sleep(0.06)
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.failures == 0


def test_registry_round_robin_healthy_first_and_cluster_dns() -> None:
    api = ApiSection(service_signals_urls="http://a:1, http://b:2/")
    registry = ServiceRegistry(api, in_cluster=False)
    firsts = [registry.endpoints("signals")[0].url for _ in range(4)]
    assert firsts == ["http://a:1", "http://b:2", "http://a:1", "http://b:2"]
    a = registry.endpoints("signals")[0]
    registry.mark(a, False)
    assert all(registry.endpoints("signals")[0].url != a.url for _ in range(3))
    assert not registry.is_remote("scanner")
    cluster = ServiceRegistry(ApiSection(), in_cluster=True)
    assert cluster.endpoints("scanner")[0].url == "http://krstock-scanner:8000"
    with pytest.raises(KeyError, match="unknown service"):
        registry.endpoints("nope")


def test_api_key_format_scopes_and_hashing() -> None:
    assert apikeys.parse_scopes("read, WRITE,read") == ("read", "write")
    with pytest.raises(apikeys.ApiKeyError, match="unknown scope"):
        apikeys.parse_scopes("read,root")
    with pytest.raises(apikeys.ApiKeyError, match="at least one"):
        apikeys.parse_scopes(" , ")
    # The secret part may contain "_" (urlsafe base64): the prefix is still found.
    key = "ks_0a1b2c3d_" + "x_y" * 15
    assert apikeys.split_key(key) == "0a1b2c3d"
    assert apikeys.split_key("ks_short_" + "x" * 40) is None
    assert apikeys.split_key("nope") is None
    assert apikeys.hash_key(key) == apikeys.hash_key(key) != apikeys.hash_key(key + "z")
    record = apikeys.KeyRecord(1, "n", "p", ("write",), None, None, None)
    assert record.grants("read") and record.grants("write") and not record.grants("admin")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5930", "005930"), ("005930", "005930"), ("0009k0", "0009K0"), (" 69500 ", "069500")],
)
def test_tickers_are_zero_padded_six_character_codes(raw: str, expected: str) -> None:
    assert validation.ticker(raw) == expected


@pytest.mark.parametrize("raw", ["", "1234567", "ABC", "' OR 1=1", "00593O!"])
def test_bad_tickers_are_400_with_the_reason(raw: str) -> None:
    with pytest.raises(ApiError) as err:
        validation.ticker(raw)
    assert err.value.status == 400 and "6-character" in err.value.message


def test_dates_in_both_forms_and_impossible_days() -> None:
    assert validation.parse_date("2026-02-10") == validation.parse_date("20260210")
    for bad in ("2026-02-30", "20261301", "yesterday", "1900-01-01", "2026-2-1x"):
        with pytest.raises(ApiError, match="expected an existing"):
            validation.parse_date(bad)
    with pytest.raises(ApiError, match="too many tickers"):
        validation.tickers(["005930"] * 501)


def test_cursor_round_trip_and_garbage() -> None:
    cursor = encode_cursor(["2026-02-10", "foreign"])
    assert decode_cursor(cursor, 2) == ["2026-02-10", "foreign"]
    for bad in ("!!!", encode_cursor([1]), "eyJhIjoxfQ"):
        with pytest.raises(ApiError, match="invalid cursor"):
            decode_cursor(bad, 2)


def test_fields_selection() -> None:
    items = [{"a": 1, "b": 2, "c": 3}]
    assert select_fields(items, "c,a") == [{"c": 3, "a": 1}]
    assert select_fields(items, None) == items
    with pytest.raises(ApiError, match="unknown field"):
        select_fields(items, "a,z")


def test_monolith_sizes_and_json_safe_metrics() -> None:
    assert [human_size(s) for s in (None, 12, 3_481, 1_258_291)] == [
        "-",
        "12 B",
        "3.4 KB",
        "1.2 MB",
    ]
    assert finite({"a": float("nan"), "b": [float("inf"), 1.5]}) == {"a": None, "b": [None, 1.5]}


def test_error_family_by_path_and_route_templates() -> None:
    assert is_legacy_path("/api/kr/signals") and is_legacy_path("/api/system/data-status")
    assert not is_legacy_path("/api/v1/signals") and not is_legacy_path("/scan")
    scope = {"path": "/api/v1/stocks/005930/prices", "path_params": {"ticker": "005930"}}
    scope["endpoint"] = object()
    assert _route_template(scope) == "/api/v1/stocks/{ticker}/prices"
    assert _route_template({"path": "/nope"}) == "unmatched"
