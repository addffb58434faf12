"""A price older than a signal never values it (issue 12, item 1).

A migrated monolith folder holds 2026 signals and prices that end in 2025: the signal list, the
cumulative return, the portfolio, the chatbot and the 5-minute refresher must all show no current
price or return for such a signal, and say the price is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from helpers.api_apps import build_app
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from krstock.app.prices import mark_to_market, refresh_open_signals
from krstock.db.models import DailyPrice, Signal, Stock

pytestmark = pytest.mark.integration

LAST_PRICE_DAY = date(2025, 6, 17)
STALE = "086520"  # signal newer than every price (에코프로 in the real ledger)
FRESH = "036540"  # signal on the last price day


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(Stock),
            [
                {"ticker": STALE, "name": "에코프로", "market": "KOSDAQ"},
                {"ticker": FRESH, "name": "SFA반도체", "market": "KOSDAQ"},
            ],
        )
        conn.execute(
            insert(DailyPrice),
            [
                {"ticker": t, "date": LAST_PRICE_DAY, "open": p, "high": p, "low": p, "close": p,
                 "volume": 1000, "source": "sample"}
                for t, p in ((STALE, 41_600), (FRESH, 8_000))
            ],
        )  # fmt: skip
        conn.execute(
            insert(Signal),
            [
                {"strategy": "vcp-legacy", "ticker": STALE, "signal_date": date(2026, 2, 24),
                 "status": "OPEN", "score": 88.5, "entry_price": 172_200, "flow_unit": "shares",
                 "payload": {}, "score_breakdown": {}},
                {"strategy": "vcp-legacy", "ticker": FRESH, "signal_date": LAST_PRICE_DAY,
                 "status": "OPEN", "score": 80.0, "entry_price": 7_490, "flow_unit": "shares",
                 "payload": {}, "score_breakdown": {}},
            ],
        )  # fmt: skip


@pytest.fixture
def client(db_url: str, db_engine: Engine, redis_url: str) -> Iterator[TestClient]:
    _seed(db_engine)
    built = build_app("gateway", db_url, redis_url)
    try:
        with TestClient(built.app) as test_client:
            yield test_client
    finally:
        built.state.close()


def _by_ticker(items: list[dict]) -> dict[str, dict]:  # type: ignore[type-arg]
    return {i["ticker"]: i for i in items}


def test_signal_list_shows_no_value_for_a_signal_newer_than_its_price(client: TestClient) -> None:
    items = _by_ticker(client.get("/api/kr/signals").json()["signals"])
    stale = items[STALE]
    # Before: current_price 41600 (the 2025 close) and return_pct -75.84.
    assert stale["current_price"] is None and stale["return_pct"] is None
    assert stale["price_status"] == "missing" and "signal date" in stale["price_reason"]
    fresh = items[FRESH]
    assert fresh["price_status"] == "ok" and fresh["current_price"] == 8_000
    assert fresh["return_pct"] == round((8_000 - 7_490) / 7_490 * 100, 2)
    assert fresh["price_as_of"] == LAST_PRICE_DAY.isoformat()


def test_cumulative_return_and_portfolio_leave_unpriced_positions_out(client: TestClient) -> None:
    body = client.get("/api/kr/cumulative-return").json()
    assert body["total_positions"] == 2 and body["unpriced_positions"] == 1
    assert body["winners"] == 1 and body["losers"] == 0  # the stale one is not a loss
    assert body["open_return"] == round((8_000 - 7_490) / 7_490 * 100, 2)
    holdings = _by_ticker(client.get("/api/portfolio").json()["top_holdings"])
    assert holdings[STALE]["return_pct"] is None
    assert holdings[STALE]["price_status"] == "missing"


def test_chatbot_says_the_price_is_missing(client: TestClient) -> None:
    reply = client.post("/api/kr/chatbot", json={"message": STALE}).json()["response"]
    assert "현재가 없음" in reply and "수익률" not in reply


def test_refresher_writes_no_value_older_than_the_signal(
    client: TestClient, db_engine: Engine
) -> None:
    with Session(db_engine) as session:  # a value written before the fix is cleared too
        session.execute(
            update(Signal)
            .where(Signal.ticker == STALE)
            .values(current_price=41_600, return_pct=-75.84)
        )
        session.commit()

    class NoCache:
        def get_many(self, group: str, keys: list[str]) -> list[bytes | None]:
            return [None] * len(keys)

        def set(self, group: str, key: str, body: bytes, ttl_s: int) -> None:
            return None

        def invalidate(self, *groups: str) -> int:
            return 0

    assert refresh_open_signals(db_engine, NoCache(), mode="db") == 2
    with Session(db_engine) as session:
        rows = {s.ticker: s for s in session.scalars(select(Signal))}
    assert rows[STALE].current_price is None and rows[STALE].return_pct is None
    assert rows[FRESH].current_price == 8_000
    v1 = client.get("/api/v1/signals", params={"ticker": STALE}).json()
    assert v1["data"][0]["price_status"] == "missing"


def test_the_rule_itself() -> None:
    assert mark_to_market(100.0, date(2026, 1, 2), None).price_status == "missing"
