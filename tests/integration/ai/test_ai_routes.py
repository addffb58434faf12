"""The monolith's AI routes serve the stored analyses in the monolith's shape, both
recommendation slots, the second one saying honestly that it is not configured."""

from __future__ import annotations

import time

import pytest
from ai_seed import DAY, seed_day
from fastapi.testclient import TestClient
from helpers.api_apps import build_app, make_keys
from sqlalchemy import Engine

from krstock.ai.daily import analyze_day
from krstock.app.recorder import run_status
from krstock.config import Settings

pytestmark = pytest.mark.integration


def wait_for_run(engine: Engine, run_id: str) -> tuple[str, dict]:
    deadline = time.monotonic() + 30
    while True:
        found = run_status(engine, run_id)
        if (found and found[0] in ("SUCCEEDED", "FAILED")) or time.monotonic() > deadline:
            return found or ("MISSING", {})
        time.sleep(0.2)


def test_routes_serve_rules_analyses_in_the_monolith_shape(
    db_url: str, db_engine: Engine, redis_url: str
) -> None:
    seed_day(db_engine)
    analyze_day(db_engine, Settings(gemini_api_key=None), DAY, {"vcp": ("vcp-legacy",)})
    built = build_app("gateway", db_url, redis_url, api={"cache_enabled": False})
    try:
        keys = make_keys(built.state)
        with TestClient(built.app) as client:
            doc = client.get("/api/kr/ai-analysis").json()
            assert doc["signal_date"] == DAY.isoformat()
            assert doc["analysis_source"] == ["rules"]
            assert doc["api_status"]["gemini"] == "not-configured"
            assert len(doc["signals"]) == 3
            item = next(s for s in doc["signals"] if s["ticker"] == "005930")
            assert item["gemini_recommendation"]["action"] == "BUY"
            assert item["gemini_recommendation"]["source"] == "rules"
            assert item["gpt_recommendation"]["source"] == "not-configured"
            assert item["gpt_recommendation"]["action"] == "N/A"
            assert item["news"] and all(
                n["url"].startswith("https://n.news.naver.com/") for n in item["news"]
            )

            dates = client.get("/api/kr/ai-history-dates").json()
            assert dates == {"dates": ["kr_ai_analysis_20260205"], "count": 1}
            history = client.get("/api/kr/ai-history/kr_ai_analysis_20260205")
            assert history.status_code == 200 and len(history.json()["signals"]) == 3
            assert client.get("/api/kr/ai-history/kr_ai_analysis_20250101").status_code == 404

            summary = client.get("/api/kr/ai-summary/005930").json()
            assert summary["ticker"] == "005930" and summary["analysis_source"] == "rules"
            assert summary["summary"].startswith("규칙 기반")
            assert client.get("/api/kr/ai-summary/999999").json()["summary"] is None

            listed = client.get("/api/v1/analyses?source=rules").json()
            first = listed["data"][0]
            assert first["status"] == "not_configured" and first["grounded"] is False
            assert first["strategy"] == "vcp"

            # A refresh is a write: no key, no run.
            assert client.get("/api/kr/ai-analysis?refresh=true").status_code == 401
            started = client.get(
                "/api/kr/ai-analysis?refresh=true", headers={"X-API-Key": keys["write"]}
            )
            assert started.status_code == 200
            run_id = started.json()["refresh_run_id"]
            status, counts = wait_for_run(db_engine, run_id)
            assert status == "SUCCEEDED", counts
            assert (counts["analyzed"], counts["source"]) == (3, "rules")
    finally:
        built.state.close()
