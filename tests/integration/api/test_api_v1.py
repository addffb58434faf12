"""/api/v1 resources and the scanner/signals/analyzer services, through the real apps."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers.api_apps import Built, build_app, make_keys
from helpers.api_seed import SeedSummary, seed
from starlette.websockets import WebSocketDisconnect

from krstock.db.session import make_engine

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database(
    fresh_database: Callable[[], AbstractContextManager[str]],
) -> Iterator[tuple[str, SeedSummary]]:
    with fresh_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=1)
        summary = seed(engine, tickers=40, days=120)
        engine.dispose()
        yield url, summary


@pytest.fixture(scope="module")
def gw(database: tuple[str, SeedSummary], redis_url: str) -> Iterator[tuple[TestClient, Built]]:
    built = build_app("gateway", database[0], redis_url)
    built.keys = make_keys(built.state)
    with TestClient(built.app) as client:
        yield client, built
    built.state.close()


def wait_run(client: TestClient, path: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = client.get(path).json()
        if body["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_stocks_cursor_pages_cover_the_universe_once(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 15}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/stocks", params=params).json()
        seen += [s["ticker"] for s in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 40 and len(set(seen)) == 40 and seen == sorted(seen)
    kosdaq = client.get("/api/v1/stocks", params={"market": "KOSDAQ", "limit": 500}).json()
    assert kosdaq["data"] and {s["market"] for s in kosdaq["data"]} == {"KOSDAQ"}
    found = client.get("/api/v1/stocks", params={"q": "삼성"}).json()["data"]
    assert [s["ticker"] for s in found] == ["005930"]


def test_fields_selection_and_unknown_fields(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    body = client.get("/api/v1/stocks", params={"fields": "ticker,name", "limit": 3}).json()
    assert [set(s) for s in body["data"]] == [{"ticker", "name"}] * 3
    bad = client.get("/api/v1/stocks", params={"fields": "ticker,password"})
    assert bad.status_code == 400 and "password" in bad.json()["error"]["message"]


def test_etag_cache_control_and_gzip(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    first = client.get("/api/v1/stocks/005930")
    assert first.status_code == 200 and first.json()["name"] == "삼성전자"
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = client.get("/api/v1/stocks/005930", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    big = client.get("/api/v1/stocks", params={"limit": 500}, headers={"Accept-Encoding": "gzip"})
    assert big.headers.get("content-encoding") == "gzip"
    assert client.get("/api/v1/stocks/999999").status_code == 404


def test_prices_newest_first_with_cursor_and_date_filters(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    page1 = client.get("/api/v1/stocks/005930/prices", params={"limit": 50}).json()
    dates = [b["date"] for b in page1["data"]]
    assert dates == sorted(dates, reverse=True) and page1["next_cursor"]
    page2 = client.get(
        "/api/v1/stocks/005930/prices", params={"limit": 50, "cursor": page1["next_cursor"]}
    ).json()
    assert page2["data"][0]["date"] < dates[-1]
    ranged = client.get(
        "/api/v1/stocks/005930/prices", params={"start": dates[9], "end": dates[0], "limit": 500}
    ).json()
    assert len(ranged["data"]) == 10
    wrong = client.get("/api/v1/stocks/005930/prices", params={"start": dates[0], "end": dates[9]})
    assert wrong.status_code == 400
    flows = client.get("/api/v1/stocks/005930/flows", params={"investor": "foreign"}).json()
    assert len(flows["data"]) == 20 and flows["data"][0]["net_value_krw"] is None


def test_signal_filters_pages_and_detail(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    closed: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"status": "CLOSED", "limit": 7}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/signals", params=params).json()
        closed += body["data"]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(closed) == 30 and {s["status"] for s in closed} == {"CLOSED"}
    s_grade = client.get("/api/v1/signals", params={"strategy": "closing-bet", "grade": "S"})
    assert {s["grade"] for s in s_grade.json()["data"]} == {"S"}
    detail = client.get(f"/api/v1/signals/{closed[0]['id']}").json()
    assert detail["ticker"] == closed[0]["ticker"] and "payload" in detail
    assert client.get("/api/v1/signals/99999999").status_code == 404
    latest = client.get("/api/v1/signals/latest", params={"strategy": "closing_bet"}).json()
    assert latest["count"] == 5 and {s["strategy"] for s in latest["signals"]} == {"closing_bet"}


def test_gate_analyses_performance_backtests_policies(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    gate = client.get("/api/v1/market-gate").json()
    assert gate["status"] == "GREEN" and gate["kospi_close"] == 2650.12
    history = client.get("/api/v1/market-gate/history").json()["data"]
    assert [h["status"] for h in history] == ["GREEN", "YELLOW"]
    missing = client.get("/api/v1/market-gate", params={"date": "2001-01-02"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    analyses = client.get("/api/v1/analyses", params={"source": "rules"}).json()["data"]
    assert len(analyses) == 6 and all(a["analysis_source"] == "rules" for a in analyses)
    perf = client.get("/api/v1/performance", params={"strategy": "vcp_legacy"}).json()["data"][0]
    assert perf["closed_signals"] == 30 and 0 <= perf["win_rate"] <= 100
    backtests = client.get("/api/v1/backtests").json()
    assert backtests["strategies"][0]["trades"] == 30
    policy = client.get("/api/v1/policies/monolith").json()
    assert policy["strategies"]["vcp_legacy"]["foreign_min_5d"] == 50_000
    assert client.get("/api/v1/policies/aggressive").status_code == 404


def test_post_runs_executes_a_real_scan_and_is_listed_by_scanjob(
    gw: tuple[TestClient, Built],
) -> None:
    client, built = gw
    headers = {"X-API-Key": built.keys["write"]}
    r = client.post(
        "/api/v1/runs",
        json={"kind": "vcp_legacy", "scanjob": "krstock/nightly"},
        headers=headers,
    )
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    assert r.headers["location"] == f"/api/v1/runs/{run_id}"
    done = wait_run(client, f"/api/v1/runs/{run_id}")
    assert done["status"] == "SUCCEEDED", done
    assert done["counts"]["scanned"] == 40  # the whole seeded universe in one pass
    listed = client.get("/api/v1/runs", params={"scanjob": "krstock/nightly"}).json()["data"]
    assert [x["id"] for x in listed] == [run_id]
    bad = client.post("/api/v1/runs", json={"kind": "rm -rf"}, headers=headers)
    assert bad.status_code == 422 and "kind" in bad.json()["error"]["message"]


def test_openapi_has_examples_and_the_monolith_routes(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for route in (
        "/api/kr/market-gate",
        "/api/kr/jongga-v2/dates",
        "/api/kr/realtime-prices",
        "/api/system/data-status",
        "/api/v1/signals",
        "/api/v1/runs",
    ):
        assert route in paths
    assert "examples" in spec["components"]["schemas"]["RunRequest"]
    gate = paths["/api/v1/market-gate"]["get"]["responses"]["200"]["content"]["application/json"]
    assert gate["example"]["kospi_close"] == 2650.12
    assert client.get("/docs").status_code == 200


def test_metrics_count_requests_by_route_template(gw: tuple[TestClient, Built]) -> None:
    client, _ = gw
    client.get("/api/v1/stocks/005930")
    text = client.get("/metrics").text
    assert "krstock_http_requests_total" in text
    assert 'route="/api/v1/stocks/{ticker}"' in text


def test_scanner_service_scan_signals_and_websocket(
    database: tuple[str, SeedSummary], redis_url: str
) -> None:
    built = build_app("scanner", database[0], redis_url)
    keys = make_keys(built.state, prefix="scanner")
    try:
        with TestClient(built.app) as client:
            assert client.get("/health").json()["service"] == "scanner"
            ready = client.get("/ready").json()
            assert ready["checks"] == {"database": "ok", "redis": "ok"}
            assert client.post("/scan", json={"kind": "closing_bet"}).status_code == 401
            started = client.post(
                "/scan", json={"kind": "closing_bet"}, headers={"X-API-Key": keys["write"]}
            )
            assert started.status_code == 202
            run_id = started.json()["run_id"]
            messages = []
            # The socket closes when the run ends.
            with (
                client.websocket_connect(f"/ws/scans/{run_id}") as ws,
                contextlib.suppress(WebSocketDisconnect),
            ):
                while True:
                    messages.append(ws.receive_json())
            assert messages and messages[-1]["status"] in ("SUCCEEDED", "FAILED")
            assert messages[-1]["id"] == run_id
            listed = client.get("/signals", params={"strategy": "vcp_legacy", "limit": 5}).json()
            assert listed["count"] == 5
            one = client.get(f"/signals/{listed['signals'][0]['id']}").json()
            assert one["id"] == listed["signals"][0]["id"]
            assert client.get("/signals", params={"ticker": "bad!"}).status_code == 400
    finally:
        built.state.close()


def test_signals_and_analyzer_services(database: tuple[str, SeedSummary], redis_url: str) -> None:
    url, summary = database
    signals_app = build_app("signals", url, redis_url)
    analyzer_app = build_app("analyzer", url, redis_url)
    try:
        with TestClient(signals_app.app) as client:
            latest = client.get("/signals/latest", params={"strategy": "closing_bet"}).json()
            assert latest["date"] == summary.closing_bet_dates[-1].isoformat()
            day = summary.closing_bet_dates[0].strftime("%Y%m%d")
            one_day = client.get(f"/signals/{day}", params={"strategy": "closing_bet"}).json()
            assert (
                one_day["count"] == 5
                and one_day["date"] == summary.closing_bet_dates[0].isoformat()
            )
            assert client.get("/signals/2026-13-01").status_code == 400
            assert client.post("/generate", json={}).status_code == 401
        with TestClient(analyzer_app.app) as client:
            body = client.get("/analyses", params={"source": "rules"}).json()
            assert body["count"] == 6
            assert client.post("/analyze", json={}).status_code == 401
    finally:
        signals_app.state.close()
        analyzer_app.state.close()


def test_vcp_scan_route_runs_a_real_scan_and_returns_its_result(
    gw: tuple[TestClient, Built],
) -> None:
    client, built = gw
    r = client.post("/api/kr/vcp-scan?wait=true", headers={"X-API-Key": built.keys["write"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "succeeded" and body["counts"]["scanned"] == 40
    assert body["run"]["kind"] == "vcp-legacy"


def test_update_single_stream_drives_a_real_run_to_its_end(gw: tuple[TestClient, Built]) -> None:
    client, built = gw
    with client.stream(
        "GET", f"/api/system/update-single?type=jongga_v2&api_key={built.keys['write']}"
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[0].startswith("data: [SYSTEM] run ")
    assert any("[closing-bet]" in line for line in lines)
    assert "data: [SYSTEM] Process finished with exit code 0" in lines
    assert lines[-2:] == ["event: end", "data: close"]
    bad = client.get(f"/api/system/update-single?type=nope&api_key={built.keys['write']}")
    assert bad.status_code == 400 and "unknown type" in bad.json()["error"]


def test_open_signals_are_marked_to_market(gw: tuple[TestClient, Built]) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from krstock.app.prices import refresh_open_signals
    from krstock.db.models import DailyPrice, Signal

    _, built = gw
    changed = refresh_open_signals(built.state.engine, built.state.cache, mode="db")
    assert changed > 0
    with Session(built.state.engine) as session:
        signal = session.scalars(
            select(Signal).where(Signal.status == "OPEN", Signal.strategy == "vcp_legacy")
        ).first()
        assert signal is not None and signal.entry_price
        last = session.scalars(
            select(DailyPrice.close)
            .where(DailyPrice.ticker == signal.ticker)
            .order_by(DailyPrice.date.desc())
            .limit(1)
        ).one()
        assert signal.current_price == float(last)
        expected = round((last - signal.entry_price) / signal.entry_price * 100, 2)
        assert signal.return_pct == expected
    assert refresh_open_signals(built.state.engine, built.state.cache, mode="db") == 0


def test_update_route_runs_the_whole_local_pipeline(gw: tuple[TestClient, Built]) -> None:
    client, built = gw
    r = client.post("/api/kr/update", headers={"X-API-Key": built.keys["write"]})
    assert r.status_code == 200 and r.json() is True  # Gen1's bare JSON boolean
    run_id = r.headers["x-run-id"]
    done = wait_run(client, f"/api/v1/runs/{run_id}", timeout_s=60)
    assert done["status"] == "SUCCEEDED", done
    # Steps are named by their run kind (one spelling: app.kinds.RunKind).
    assert set(done["counts"]) == {
        "market-gate",
        "vcp-legacy",
        "vcp",
        "closing-bet",
        "ai-analysis",
        "track",
    }
    steps = client.get("/api/v1/runs", params={"limit": 50}).json()["data"]
    assert {s["kind"] for s in steps if s["id"].startswith(run_id[:40])} >= {
        "market-gate",
        "vcp-legacy",
        "closing-bet",
        "track",
    }


def test_celery_mode_enqueues_the_task_by_name_on_its_queue(
    database: tuple[str, SeedSummary], redis_url: str
) -> None:
    import base64
    import json

    import redis as redis_lib

    # The given database: no Celery worker reads it (the worker tests run their own Redis).
    broker = redis_url
    client = redis_lib.Redis.from_url(broker)
    client.delete("scan")
    built = build_app("gateway", database[0], broker, api={"dispatch_mode": "celery"})
    keys = make_keys(built.state, prefix="celery")
    try:
        with TestClient(built.app) as http:
            rejected = http.post(
                "/api/v1/runs",
                json={"kind": "closing_bet", "params": {"capital": 1}},
                headers={"X-API-Key": keys["write"]},
            )
            assert rejected.status_code == 400
            assert "unknown params for a closing_bet run: capital" in rejected.text
            r = http.post(
                "/api/v1/runs",
                json={"kind": "closing_bet", "date": "2026-02-05"},
                headers={"X-API-Key": keys["write"]},
            )
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            assert http.get(f"/api/v1/runs/{run_id}").json()["status"] == "PENDING"
        raw = client.lpop("scan")
        assert raw is not None, "nothing was enqueued on the scan queue"
        message = json.loads(raw)
        assert message["headers"]["task"] == "krstock.run_scan"
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert args == []
        assert kwargs == {"run_id": run_id, "kind": "closing-bet", "day": "2026-02-05"}
    finally:
        client.delete("scan")
        client.close()
        built.state.close()
