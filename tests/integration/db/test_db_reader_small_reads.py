"""The scans' small reads in krstock.db.reader against PostgreSQL, with the semantics of the
krstock.app.scans helpers they replace (gate of the day and policy; the monolith's 2-day KST
news window, top 3 by credibility then recency; the tracker's state of OPEN, CLOSED and
CANCELLED signals)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from krstock.db.reader import gate_status, recent_news, tracking_state

pytestmark = pytest.mark.integration

DAY = date(2025, 12, 30)


def test_gate_status_is_that_days_status_for_that_policy(db_engine: Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO market_gate_snapshots (date, policy_name, status, score, label) "
                "VALUES (:d, 'monolith', 'RED', 20, 'x'), (:d, 'p10', 'GREEN', 80, 'y'), "
                "(:before, 'monolith', 'GREEN', 70, 'z')"
            ),
            {"d": DAY, "before": DAY - timedelta(days=1)},
        )
    with db_engine.connect() as conn:
        assert gate_status(conn, DAY, "monolith") == "RED"
        assert gate_status(conn, DAY, "p10") == "GREEN"
        assert gate_status(conn, DAY - timedelta(days=1), "monolith") == "GREEN"
        assert gate_status(conn, DAY + timedelta(days=1), "monolith") is None
        assert gate_status(conn, DAY, "nobody") is None


def _news(ticker: str, n: int, published: datetime | None, credibility: float | None) -> dict:
    return {
        "ticker": ticker,
        "title": f"{ticker} headline {n}",
        "url": f"https://news.example/{ticker}/{n}",
        "source": None if n % 4 == 0 else f"source {n}",
        "published_at": published,
        "credibility": credibility,
    }


def test_recent_news_is_the_top_three_of_the_kst_window(db_engine: Engine) -> None:
    kst_midnight = datetime(2025, 12, 29, 15, 0, tzinfo=UTC)  # 2025-12-30 00:00 KST
    items = [
        # Inside the 2-day KST window (12-29 00:00 .. 12-31 00:00 KST), five for one ticker.
        _news("005930", 1, kst_midnight + timedelta(hours=1), 0.9),
        _news("005930", 2, kst_midnight + timedelta(hours=2), None),
        _news("005930", 3, kst_midnight - timedelta(hours=20), 0.9),
        _news("005930", 4, kst_midnight + timedelta(hours=3), 0.5),
        _news("005930", 5, kst_midnight + timedelta(hours=23, minutes=59), 0.7),
        # The window's edges: 12-29 00:00 KST is in, 12-31 00:00 KST is out.
        _news("000660", 6, kst_midnight - timedelta(days=1), 0.1),
        _news("000660", 7, kst_midnight + timedelta(days=1), 1.0),
        _news("000660", 8, None, 1.0),
        _news("035720", 9, kst_midnight, 0.2),  # not asked for
    ]
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO news_items (ticker, title, url, source, published_at, credibility) "
                "VALUES (:ticker, :title, :url, :source, :published_at, :credibility)"
            ),
            items,
        )
    asked = ["005930", "000660", "999999"]
    with db_engine.connect() as conn:
        news = recent_news(conn, DAY, asked, 2)
        assert recent_news(conn, DAY, [], 2) == {}
        assert len(recent_news(conn, DAY, ["005930"], 2, per_ticker=5)["005930"]) == 5
        assert recent_news(conn, DAY, ["000660"], 1) == {}
    assert set(news) == {"005930", "000660"}
    assert [item["title"] for item in news["005930"]] == [
        "005930 headline 1",
        "005930 headline 3",
        "005930 headline 5",
    ]
    assert news["005930"][0] == {
        "title": "005930 headline 1",
        "source": "source 1",
        "published_at": "2025-12-30T01:00:00+09:00",
        "url": "https://news.example/005930/1",
    }
    assert [item["title"] for item in news["000660"]] == ["000660 headline 6"]


def test_tracking_state_is_the_tracked_signals_of_that_strategy_and_day(db_engine: Engine) -> None:
    signals = [
        ("vcp", DAY, "000001", "OPEN", 101.5, 3),
        ("vcp", DAY, "000002", "CLOSED", 95.0, 5),
        ("vcp", DAY, "000003", "CANCELLED", None, None),
        ("vcp", DAY, "000004", "PENDING", 50.0, 1),  # a watch-list item: not tracked
        ("vcp", DAY - timedelta(days=1), "000005", "OPEN", 1.0, 1),  # another day
        ("closing-bet", DAY, "000006", "OPEN", 2.0, 2),  # another strategy
    ]
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO signals (strategy, signal_date, ticker, status, current_price, "
                "hold_days) VALUES (:s, :d, :t, :status, :price, :hold)"
            ),
            [
                dict(zip(["s", "d", "t", "status", "price", "hold"], row, strict=True))
                for row in signals
            ],
        )
    with db_engine.connect() as conn:
        state = tracking_state(conn, "vcp", DAY)
        assert tracking_state(conn, "trend-template", DAY) == {}
    assert state == {
        "000001": ("OPEN", 101.5, 3),
        "000002": ("CLOSED", 95.0, 5),
        "000003": ("CANCELLED", None, None),
    }
