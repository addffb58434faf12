"""Contract tests: every monolith route's shape (field names and types) through the real app.

The database is a migrated PostgreSQL clone filled by ``krstock.api.seed``; Redis is the real
local server (a per-module key prefix). Shapes follow monolith.md §2.1-2.2.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers.api_seed import SeedSummary, seed
from sqlalchemy.orm import Session

from krstock.api import gateway
from krstock.api.infra.apikeys import create_key
from krstock.api.infra.state import build_state
from krstock.config import ApiSection, Settings
from krstock.db.session import make_engine

pytestmark = pytest.mark.integration


class Env:
    def __init__(self, client: TestClient, summary: SeedSummary, keys: dict[str, str]) -> None:
        self.client = client
        self.summary = summary
        self.keys = keys

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)


@pytest.fixture(scope="module")
def env(fresh_database: Callable[[], AbstractContextManager[str]], redis_url: str) -> Iterator[Env]:
    with fresh_database() as url:
        engine = make_engine(url, pool_size=2, max_overflow=2)
        try:
            summary = seed(engine, tickers=40, days=220)
            with Session(engine) as session:
                keys = {s: create_key(session, f"k-{s}", s)[0] for s in ("read", "write", "admin")}
                session.commit()
            settings = Settings(database_url=url, redis_url=redis_url)
            api = ApiSection(
                cache_prefix=f"krstock:test:{uuid.uuid4().hex[:8]}",
                rate_limit_per_ip=100_000,
                price_source="db",
            )
            state = build_state("gateway", url, redis_url, settings=settings, api_settings=api)
            app = gateway.create_app(state=state, listen_events=False)
            with TestClient(app) as client:
                yield Env(client, summary, keys)
            state.cache.invalidate("stock", "signals", "prices", "gate", "misc")
            state.close()
        finally:
            engine.dispose()


def assert_types(body: dict[str, Any], spec: dict[str, type | tuple[type, ...]]) -> None:
    for key, kind in spec.items():
        assert key in body, f"missing field {key!r} in {sorted(body)}"
        assert isinstance(body[key], kind), f"{key!r} is {type(body[key]).__name__}"


NUM = (int, float)
OPT_NUM = (int, float, type(None))
OPT_STR = (str, type(None))


def test_market_status_is_risk_on_for_an_uptrending_kodex200(env: Env) -> None:
    r = env.get("/api/kr/market-status")
    assert r.status_code == 200
    body = r.json()
    assert_types(
        body,
        {"status": str, "score": int, "current_price": float, "ma200": float, "date": str},
    )
    assert body["symbol"] == "069500" and body["name"] == "KODEX 200"
    assert (body["status"], body["score"]) == ("RISK_ON", 80)


def test_signals_shape_and_live_prices(env: Env) -> None:
    r = env.get("/api/kr/signals")
    assert r.status_code == 200
    body = r.json()
    assert_types(body, {"signals": list, "count": int, "generated_at": OPT_STR, "source": str})
    assert body["count"] == len(env.summary.open_vcp)
    scores = [s["score"] for s in body["signals"]]
    assert scores == sorted(scores, reverse=True)
    item = body["signals"][0]
    assert_types(
        item,
        {
            "ticker": str,
            "name": str,
            "market": str,
            "signal_date": str,
            "foreign_5d": int,
            "inst_5d": int,
            "score": float,
            "contraction_ratio": float,
            "entry_price": float,
            "current_price": float,
            "return_pct": float,
            "status": str,
            "final_score": float,
        },
    )
    assert len(item["ticker"]) == 6
    # return_pct is recomputed from the injected price.
    expected = round((item["current_price"] - item["entry_price"]) / item["entry_price"] * 100, 2)
    assert item["return_pct"] == expected
    analysed = [s for s in body["signals"] if "gpt_recommendation" in s]
    assert analysed and analysed[0]["analysis_source"] == "rules"


def test_signals_ranked_mode_uses_gen0_final_score(env: Env) -> None:
    body = env.get("/api/kr/signals", params={"mode": "ranked"}).json()
    assert_types(body, {"signals": list, "count": int, "total_filtered": int})
    finals = [s["final_score"] for s in body["signals"]]
    assert finals == sorted(finals, reverse=True)
    assert all(s["contraction_ratio"] <= 0.8 and s["score"] >= 50 for s in body["signals"])


def test_stock_chart_last_300_bars_and_errors(env: Env) -> None:
    body = env.get("/api/kr/stock-chart/005930", params={"period": "6mo"}).json()
    assert body["ticker"] == "005930"
    assert len(body["data"]) == 220  # fewer than 300 days were seeded
    bar = body["data"][-1]
    assert_types(
        bar,
        {"date": str, "open": float, "high": float, "low": float, "close": float, "volume": int},
    )
    assert len(env.get("/api/kr/stock-chart/005930?period=1m").json()["data"]) == 30
    missing = env.get("/api/kr/stock-chart/999999")
    assert missing.status_code == 404 and missing.json() == {"error": "Ticker not found"}
    bad = env.get("/api/kr/stock-chart/12345X7")
    assert bad.status_code == 400 and "invalid ticker" in bad.json()["error"]


def test_ai_routes(env: Env) -> None:
    analysis = env.get("/api/kr/ai-analysis").json()
    assert_types(
        analysis,
        {"market_indices": dict, "signals": list, "generated_at": str, "signal_date": str},
    )
    assert set(analysis["market_indices"]) == {"kospi", "kosdaq"}
    item = analysis["signals"][0]
    for key in ("ticker", "name", "gpt_recommendation", "gemini_recommendation", "news"):
        assert key in item
    dates = env.get("/api/kr/ai-history-dates").json()["dates"]
    assert dates and all(d.startswith("kr_ai_analysis_") for d in dates)
    # Gen1 quirk: whatever the dates endpoint returned is accepted back, as are plain dates.
    first = env.get(f"/api/kr/ai-history/{dates[0]}")
    assert first.status_code == 200 and first.json()["signals"]
    plain = dates[0].removeprefix("kr_ai_analysis_")
    assert env.get(f"/api/kr/ai-history/{plain}").json() == first.json()
    gone = env.get("/api/kr/ai-history/19991231")
    assert gone.status_code == 404 and gone.json() == {"error": "Date not found"}
    ticker = item["ticker"]
    summary = env.get(f"/api/kr/ai-summary/{ticker}").json()
    assert summary["ticker"] == ticker and isinstance(summary["summary"], str)
    assert env.get("/api/kr/ai-summary/000001").json() == {"ticker": "000001", "summary": None}


def test_market_gate_has_top_level_index_fields(env: Env) -> None:
    r = env.get("/api/kr/market-gate")
    assert r.status_code == 200
    body = r.json()
    assert_types(
        body,
        {
            "status": str,
            "score": int,
            "label": str,
            "reasons": list,
            "sectors": list,
            "metrics": dict,
            "updated_at": str,
            "kospi_close": OPT_NUM,
            "kospi_change_pct": OPT_NUM,
            "kosdaq_close": OPT_NUM,
            "kosdaq_change_pct": OPT_NUM,
        },
    )
    assert body["status"] in ("GREEN", "YELLOW", "RED")
    assert body["kospi_close"] == 2650.12 and body["kosdaq_change_pct"] == -0.31
    assert {s["signal"] for s in body["sectors"]} <= {"bullish", "bearish", "neutral"}
    assert_types(
        body["sectors"][0], {"name": str, "signal": str, "change_pct": float, "score": int}
    )
    dates = env.get("/api/kr/market-gate/dates").json()
    assert isinstance(dates, list) and len(dates) == 2
    compact = dates[1].replace("-", "")
    assert env.get(f"/api/kr/market-gate/history/{compact}").json()["status"] == "YELLOW"


def test_realtime_prices_flat_map(env: Env) -> None:
    r = env.client.post("/api/kr/realtime-prices", json={"tickers": ["005930", "069500", "999999"]})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"005930", "069500"}  # unknown tickers are simply absent
    assert all(isinstance(v, float) and v > 0 for v in body.values())
    assert env.client.post("/api/kr/realtime-prices", json={"tickers": []}).json() == {}
    common = env.client.post("/api/realtime-prices", json={"tickers": ["005930", "999999"]})
    prices = common.json()["prices"]
    assert prices["999999"] == 0 and prices["005930"] == body["005930"]


def test_jongga_latest_dates_and_history_in_both_date_forms(env: Env) -> None:
    latest = env.get("/api/kr/jongga-v2/latest").json()
    assert_types(
        latest,
        {
            "date": str,
            "total_candidates": int,
            "filtered_count": int,
            "signals": list,
            "by_grade": dict,
            "by_market": dict,
            "processing_time_ms": float,
            "updated_at": str,
        },
    )
    assert latest["date"] == env.summary.closing_bet_dates[-1].isoformat()
    assert latest["total_candidates"] == 40 and latest["filtered_count"] == 5
    grades = [s["grade"] for s in latest["signals"]]
    assert grades == sorted(grades, key="SAB".index)
    item = latest["signals"][0]
    for key in ("stock_code", "stock_name", "score", "checklist", "entry_price", "news_items"):
        assert key in item
    for flat in ("has_news", "news_sources", "is_new_high", "supply_positive", "volume_surge"):
        assert flat in item
    dates = env.get("/api/kr/jongga-v2/dates").json()
    assert isinstance(dates, list)  # a bare array, newest first
    assert dates == sorted(dates, reverse=True) and dates[0] == latest["date"]
    dashed = env.get(f"/api/kr/jongga-v2/history/{dates[1]}")
    compact = env.get(f"/api/kr/jongga-v2/history/{dates[1].replace('-', '')}")
    assert dashed.status_code == compact.status_code == 200
    assert dashed.json() == compact.json()
    missing = env.get("/api/kr/jongga-v2/history/20000101")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Data not found for this date"}


def test_jongga_analyze_requires_a_code(env: Env) -> None:
    r = env.client.post(
        "/api/kr/jongga-v2/analyze", json={}, headers={"X-API-Key": env.keys["write"]}
    )
    assert r.status_code == 400 and r.json() == {"error": "Stock code is required"}


def test_backtest_summary_cards(env: Env) -> None:
    body = env.get("/api/kr/backtest-summary").json()
    vcp, cb = body["vcp"], body["closing_bet"]
    assert vcp["status"] == "OK" and vcp["count"] == 30
    assert isinstance(vcp["win_rate"], float) and isinstance(vcp["avg_return"], float)
    # Two closing-bet days before today are seeded (the third is today): enough for a card.
    today = date.today().isoformat()
    past = [d for d in env.summary.closing_bet_dates if d.isoformat() != today]
    if len(past) >= 2:
        assert cb["status"] == "OK" and cb["count"] > 0
    else:
        assert cb["status"] == "Accumulating" and "최소 2일" in cb["message"]


def test_performance_and_cumulative_return(env: Env) -> None:
    perf = env.get("/api/kr/performance").json()
    for key in ("total_signals", "closed_signals", "open_signals", "win_rate", "avg_return"):
        assert key in perf
    assert perf["closed_signals"] == 30 and perf["open_signals"] == len(env.summary.open_vcp)
    assert isinstance(perf["performance"], list)
    cum = env.get("/api/kr/cumulative-return").json()
    assert_types(cum, {"cumulative_return": NUM, "trades": list, "positions": list})
    assert cum["total_positions"] == len(env.summary.open_vcp)


def test_data_status_reports_tables_in_the_old_shape(env: Env) -> None:
    body = env.get("/api/system/data-status").json()
    names = [f["name"] for f in body["files"]]
    assert names == [
        "Daily Prices",
        "Institutional Trend",
        "AI Analysis",
        "VCP Signals",
        "AI Jongga V2",
    ]
    prices = body["files"][0]
    assert_types(
        prices,
        {
            "name": str,
            "path": str,
            "exists": bool,
            "lastModified": str,
            "size": str,
            "rowCount": int,
            "link": str,
            "menu": str,
        },
    )
    assert prices["rowCount"] == 40 * 220 and prices["exists"]
    assert prices["size"].endswith(("MB", "KB"))
    assert set(body["update_status"]) == {"isRunning", "lastRun", "progress"}


def test_common_stock_and_portfolio_routes(env: Env) -> None:
    stock = env.get("/api/stock/005930").json()
    assert_types(stock, {"ticker": str, "name": str, "price": float, "volume": int})
    assert stock["name"] == "삼성전자"
    assert env.get("/api/stock/999999").status_code == 404
    summary = env.get("/api/portfolio-summary").json()
    assert summary["kr_market"]["count"] == len(env.summary.open_vcp)
    assert summary["kr_market"]["top_grade"] == "S"
    portfolio = env.get("/api/portfolio").json()
    assert {"key_stats", "top_holdings", "holdings_distribution"} <= set(portfolio)


def test_chatbot_is_rule_based_and_keeps_per_user_memory(env: Env) -> None:
    user = {"X-User-Id": f"u{uuid.uuid4().hex[:6]}"}
    welcome = env.get("/api/kr/chatbot/welcome").json()
    assert isinstance(welcome["message"], str)
    status = env.get("/api/kr/chatbot/status", headers=user).json()
    assert status["source"] == "rules" and status["llm"] is False
    reply = env.client.post("/api/kr/chatbot", json={"message": "시장 상태 알려줘"}, headers=user)
    assert reply.status_code == 200 and "GREEN" in reply.json()["response"]
    samsung = env.client.post("/api/kr/chatbot", json={"message": "005930"}, headers=user).json()
    assert "삼성전자" in samsung["response"]
    history = env.get("/api/kr/chatbot/history", headers=user).json()["history"]
    assert [h["role"] for h in history] == ["user", "model", "user", "model"]
    assert env.client.post(
        "/api/kr/chatbot/memory", json={"style": "단타"}, headers=user
    ).json() == {"status": "ok"}
    memory = env.get("/api/kr/chatbot/memory", headers=user).json()["memory"]
    assert memory["style"]["value"] == "단타"
    other = env.get("/api/kr/chatbot/memory", headers={"X-User-Id": "someone-else"}).json()
    assert "style" not in other["memory"]
    assert env.client.delete("/api/kr/chatbot/memory", headers=user).json() == {"status": "cleared"}
    assert env.client.delete("/api/kr/chatbot/history", headers=user).json() == {
        "status": "cleared"
    }
    assert env.get("/api/kr/chatbot/history", headers=user).json() == {"history": []}
    empty = env.client.post("/api/kr/chatbot", json={}, headers=user)
    assert empty.status_code == 400 and empty.json() == {"error": "message is required"}


def _wait(env: Env, run_id: str) -> str:
    import time

    for _ in range(300):
        status: str = env.get(f"/api/v1/runs/{run_id}").json()["status"]
        if status in ("SUCCEEDED", "FAILED"):
            return status
        time.sleep(0.1)
    return status


def test_jongga_run_status_and_busy_conflict(env: Env) -> None:
    from sqlalchemy import insert, update

    from krstock.db.models import ScanRun

    write = {"X-API-Key": env.keys["write"]}
    idle = env.get("/api/kr/jongga-v2/status").json()
    assert_types(idle, {"isRunning": bool, "status": str})
    assert idle["status"] == "IDLE" and idle["isRunning"] is False
    started = env.client.post("/api/kr/jongga-v2/run", json={}, headers=write)
    assert started.status_code == 202
    body = started.json()
    assert body["status"] == "accepted" and isinstance(body["message"], str)
    assert _wait(env, body["run_id"]) in ("SUCCEEDED", "FAILED")
    # While a run is active a second one is refused with the forks' 409 body.
    engine = env.client.app.state.krstock.engine  # type: ignore[attr-defined]
    run_id = f"busy-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(
            insert(ScanRun).values(
                id=run_id, kind="closing-bet", status="RUNNING", progress=10.0, counts={}, params={}
            )
        )
    busy = env.client.post("/api/kr/jongga-v2/run", json={}, headers=write)
    assert busy.status_code == 409
    assert busy.json() == {"status": "error", "message": "Already running"}
    assert env.get("/api/kr/jongga-v2/status").json()["isRunning"] is True
    with engine.begin() as conn:
        conn.execute(update(ScanRun).where(ScanRun.id == run_id).values(status="SUCCEEDED"))
    bad = env.client.post("/api/kr/jongga-v2/run", json={"capital": -5}, headers=write)
    assert bad.status_code == 400 and "capital" in bad.json()["error"]


def test_run_analysis_and_market_gate_update_shapes(env: Env) -> None:
    write = {"X-API-Key": env.keys["write"]}
    analysis = env.client.post("/api/run-analysis", headers=write).json()
    assert analysis["status"] == "started" and isinstance(analysis["message"], str)
    gate = env.client.post(
        "/api/kr/market-gate/update", json={"target_date": "20260205"}, headers=write
    ).json()
    assert gate["status"] == "started" and gate["target_date"] == "2026-02-05"
    for run_id in [*analysis["run_ids"], gate["run_id"]]:
        assert _wait(env, run_id) in ("SUCCEEDED", "FAILED")
