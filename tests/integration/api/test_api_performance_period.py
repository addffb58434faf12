"""/api/kr/performance on open signals only: the period has a true end, never "2026-11-11 ~ "."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from helpers.api_apps import build_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from krstock.db.models import Signal
from krstock.domain.tracking import PERIOD_END_SIGNAL


def test_open_signals_only_give_a_period_ending_on_the_last_signal_day(
    db_url: str, db_engine: Engine, redis_url: str
) -> None:
    with Session(db_engine) as session:
        for day in (date(2026, 11, 11), date(2026, 11, 18)):
            session.add(
                Signal(strategy="vcp-legacy", ticker="005930", signal_date=day, status="OPEN")
            )
        session.commit()
    built = build_app("gateway", db_url, redis_url, api={"cache_enabled": False})
    try:
        with TestClient(built.app) as client:
            body = client.get("/api/kr/performance").json()
    finally:
        built.state.close()
    assert body["open_signals"] == 2 and body["closed_signals"] == 0
    assert body["period"] == "2026-11-11 ~ 2026-11-18"
    assert body["period_end_basis"] == PERIOD_END_SIGNAL
    [vcp, closing] = body["performance"]
    assert vcp["period"] == body["period"] and closing["period"] == ""
