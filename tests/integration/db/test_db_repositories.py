"""Repositories against the real schema: upserts keyed by natural keys, paging, lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from krstock.db.repositories import (
    AIAnalysisRepository,
    ApiKeyRepository,
    MarketGateRepository,
    NewsRepository,
    PriceRepository,
    ScanRunRepository,
    SignalRepository,
    StockRepository,
    TradeRepository,
)
from krstock.db.session import session_scope

pytestmark = pytest.mark.integration
DAY = date(2024, 1, 5)


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    with session_scope(db_engine) as s:
        yield s


def test_stocks_upsert_get_list_search(session: Session) -> None:
    repo = StockRepository(session)
    counts = repo.upsert(
        [
            {"ticker": "005930", "name": "삼성전자", "market": "KOSPI"},
            {"ticker": "005935", "name": "삼성전자우", "market": "KOSPI"},
            {"ticker": "035720", "name": "카카오", "market": "KOSPI"},
            {"ticker": "247540", "name": "에코프로비엠", "market": "KOSDAQ"},
        ]
    )
    assert counts.inserted == 4
    assert repo.upsert([{"ticker": "005930", "name": "삼성전자", "market": "KOSPI"}]).unchanged == 1
    stock = repo.get("005930")
    assert stock is not None and stock.name == "삼성전자" and stock.listing_status == "LISTED"
    assert repo.get("000000") is None
    assert [s.ticker for s in repo.list(market="KOSDAQ")] == ["247540"]
    assert [s.ticker for s in repo.list(limit=2, offset=1)] == ["005935", "035720"]
    assert [s.ticker for s in repo.list(listing_status="DELISTED")] == []
    assert [s.ticker for s in repo.search("삼성")] == ["005930", "005935"]
    assert repo.search("00593")[0].ticker == "005930"
    assert [s.ticker for s in repo.search("005935")] == ["005935"]
    assert repo.search("  ") == []
    assert repo.search("%") == []


def test_prices_last_bars_latest_bars_latest_date(session: Session) -> None:
    repo = PriceRepository(session)
    assert repo.latest_date() is None
    days = pd.bdate_range("2024-01-01", periods=5)
    frame = pd.DataFrame(
        {
            "ticker": ["000001"] * 5 + ["000002"] * 2,
            "date": list(days) + list(days[:2]),
            "open": range(7),
            "high": range(7),
            "low": range(7),
            "close": [10, 11, 12, 13, 14, 20, 21],
            "volume": range(7),
        }
    )
    assert repo.upsert(frame).inserted == 7
    bars = repo.last_bars("000001", 3)
    assert [b.close for b in bars] == [12, 13, 14]
    assert [b.close for b in repo.last_bars("000001", 2, end=date(2024, 1, 3))] == [11, 12]
    latest = repo.latest_bars(["000001", "000002", "999999"])
    assert {t: b.close for t, b in latest.items()} == {"000001": 14, "000002": 21}
    early = repo.latest_bars(["000001", "000002"], end=date(2024, 1, 1))
    assert {t: b.close for t, b in early.items()} == {"000001": 10, "000002": 20}
    assert repo.latest_bars([]) == {}
    assert repo.latest_date() == date(2024, 1, 5)


def _signal(ticker: str, score: float) -> dict[str, object]:
    return {"ticker": ticker, "score": score, "grade": "A", "payload": {"t": ticker}}


def test_signals_replace_for_date_keeps_ids_and_deletes_stale(session: Session) -> None:
    runs = ScanRunRepository(session)
    runs.create("run-1", "vcp", scan_date=DAY)
    runs.create("run-2", "vcp", scan_date=DAY)
    repo = SignalRepository(session)
    first = repo.replace_for_date("vcp", DAY, [_signal("000001", 1), _signal("000002", 2)], "run-1")
    assert (first.inserted, first.updated, first.deleted) == (2, 0, 0)
    second = repo.replace_for_date(
        "vcp", DAY, [_signal("000002", 5), _signal("000003", 3)], "run-2"
    )
    assert (second.inserted, second.updated, second.deleted) == (1, 1, 1)
    assert second.ids["000002"] == first.ids["000002"]
    kept = repo.get(second.ids["000002"])
    assert kept is not None and kept.score == 5 and kept.run_id == "run-2"
    # Another strategy on the same day is untouched.
    repo.replace_for_date("closing_bet", DAY, [_signal("000001", 9)], "run-2")
    assert repo.replace_for_date("vcp", DAY, [], None).deleted == 2
    assert [s.ticker for s in repo.list(strategy="closing_bet").items] == ["000001"]
    with pytest.raises(ValueError, match="duplicate"):
        repo.replace_for_date("vcp", DAY, [_signal("000001", 1), _signal("000001", 2)])
    with pytest.raises(ValueError, match="ticker"):
        repo.replace_for_date("vcp", DAY, [{"score": 1}])
    with pytest.raises(ValueError, match="unknown signals columns"):
        repo.replace_for_date("vcp", DAY, [{"ticker": "000001", "bogus": 1}])


def test_signals_paging_open_close_dates(session: Session) -> None:
    repo = SignalRepository(session)
    for offset, day in enumerate([date(2024, 1, 2), date(2024, 1, 3)]):
        repo.replace_for_date("vcp", day, [_signal(f"00000{i}", i + offset) for i in range(1, 4)])
    page1 = repo.list(strategy="vcp", limit=4)
    assert len(page1.items) == 4 and page1.next_cursor is not None
    page2 = repo.list(strategy="vcp", limit=4, cursor=page1.next_cursor)
    assert len(page2.items) == 2 and page2.next_cursor is None
    ids = [s.id for s in page1.items + page2.items]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6
    assert len(repo.list(signal_date=date(2024, 1, 2)).items) == 3
    assert len(repo.list(ticker="000001").items) == 2
    with pytest.raises(ValueError):
        repo.list(limit=0)

    target = repo.open_signals("vcp")[0]
    closed = repo.close(
        target.id,
        exit_price=1100.0,
        exit_date=date(2024, 1, 10),
        exit_reason="TARGET",
        return_pct=10.0,
        hold_days=8,
    )
    assert closed.status == "CLOSED" and closed.exit_reason == "TARGET"
    assert len(repo.open_signals()) == 5
    assert len(repo.list(status="CLOSED").items) == 1
    assert len(repo.list(status=["CLOSED", "OPEN"]).items) == 6
    repo.update_fields(target.id, current_price=1234.0)
    session.expire_all()
    refreshed = repo.get(target.id)
    assert refreshed is not None and refreshed.current_price == 1234.0
    with pytest.raises(ValueError):
        repo.update_fields(target.id, nope=1)
    with pytest.raises(KeyError):
        repo.close(10**9, exit_price=1, exit_date=DAY, exit_reason="MANUAL")
    assert repo.dates() == [date(2024, 1, 3), date(2024, 1, 2)]
    assert repo.dates("closing_bet") == []


def test_scan_run_lifecycle(session: Session) -> None:
    repo = ScanRunRepository(session)
    run = repo.create("r-1", "vcp", scan_date=DAY, params={"a": 1}, scanjob="ns/job")
    assert run.status == "PENDING" and run.params == {"a": 1}
    again = repo.create("r-1", "vcp", params={"a": 2})
    assert again.params == {"a": 1}  # idempotent: the first creation stands
    assert repo.mark_running("r-1").started_at is not None
    assert repo.progress("r-1", 140).progress == 100.0
    assert repo.progress("r-1", 42.5).progress == 42.5
    done = repo.succeeded("r-1", {"signals": 3})
    assert (done.status, done.counts, done.progress) == ("SUCCEEDED", {"signals": 3}, 100.0)
    assert done.finished_at is not None
    repo.create("r-2", "collect")
    failed = repo.failed("r-2", "KRX timed out")
    assert (failed.status, failed.error) == ("FAILED", "KRX timed out")
    assert repo.get("r-2") is not None and repo.get("nope") is None
    with pytest.raises(KeyError):
        repo.mark_running("nope")
    assert {r.id for r in repo.list()} == {"r-1", "r-2"}
    assert [r.id for r in repo.list(kind="collect")] == ["r-2"]
    assert [r.id for r in repo.list(scanjob="ns/job")] == ["r-1"]
    latest = repo.latest("vcp", status="SUCCEEDED")
    assert latest is not None and latest.id == "r-1"
    assert repo.latest("vcp", status="FAILED") is None


def test_market_gate_snapshots(session: Session) -> None:
    repo = MarketGateRepository(session)
    snap = {"date": DAY, "status": "GREEN", "score": 70, "label": "Bullish", "reasons": ["a"]}
    assert repo.upsert(snap).score == 70
    assert repo.upsert({**snap, "score": 40, "status": "YELLOW"}).status == "YELLOW"
    repo.upsert({**snap, "date": date(2024, 1, 4), "score": 10, "status": "RED"})
    repo.upsert({**snap, "policy_name": "custom"})
    latest = repo.latest()
    assert latest is not None and latest.date == DAY and latest.score == 40
    assert repo.dates() == [DAY, date(2024, 1, 4)]
    assert repo.dates("custom") == [DAY]
    assert repo.by_date(date(2024, 1, 4)) is not None
    assert repo.by_date(date(2020, 1, 1)) is None


def test_ai_analyses_trades_news(session: Session) -> None:
    signals = SignalRepository(session)
    ids = signals.replace_for_date("vcp", DAY, [_signal("000001", 1)]).ids
    ai = AIAnalysisRepository(session)
    base = {"ticker": "000001", "signal_date": DAY, "analysis_source": "rules", "action": "BUY"}
    first = ai.upsert({**base, "signal_id": ids["000001"], "confidence": 0.5})
    second = ai.upsert({**base, "signal_id": ids["000001"], "confidence": 0.9, "action": "HOLD"})
    assert first.id == second.id and second.confidence == 0.9 and second.action == "HOLD"
    ai.upsert({**base, "analysis_source": "gemini", "news": [{"title": "x"}]})
    assert [a.analysis_source for a in ai.for_date(DAY)] == ["gemini", "rules"]
    assert len(ai.for_ticker("000001")) == 2
    assert [a.id for a in ai.for_signal(ids["000001"])] == [first.id]

    trades = TradeRepository(session)
    trade = {
        "signal_id": ids["000001"],
        "strategy": "vcp",
        "ticker": "000001",
        "entry_date": DAY,
        "entry_price": 1000.0,
    }
    t1 = trades.upsert_for_signal(trade)
    t2 = trades.upsert_for_signal({**trade, "exit_date": date(2024, 1, 9), "exit_price": 1100.0})
    assert t1.id == t2.id and t2.exit_price == 1100.0
    free = trades.add({"strategy": "bt", "ticker": "000002", "entry_date": DAY, "entry_price": 1.0})
    assert free.id != t1.id
    with pytest.raises(ValueError):
        trades.upsert_for_signal({**trade, "signal_id": None})
    assert len(trades.list()) == 2
    assert [t.strategy for t in trades.list(strategy="vcp", closed_only=True)] == ["vcp"]
    assert trades.list(since=date(2025, 1, 1)) == []
    assert len(trades.list(limit=1)) == 1

    news = NewsRepository(session)
    item = {"ticker": "000001", "title": "Up", "url": "https://n/1", "origin": "sample"}
    older = datetime(2024, 1, 1, tzinfo=UTC)
    assert news.upsert_many([{**item, "published_at": older}]) == 1
    assert (
        news.upsert_many(
            [
                {**item, "title": "Up again", "published_at": older},
                {**item, "url": "https://n/2", "published_at": datetime(2024, 1, 2, tzinfo=UTC)},
            ]
        )
        == 1
    )
    recent = news.recent("000001")
    assert [n.url for n in recent] == ["https://n/2", "https://n/1"]
    assert recent[1].title == "Up again"
    assert news.upsert_many([]) == 0


def test_api_keys(session: Session) -> None:
    repo = ApiKeyRepository(session)
    key = repo.create("ci", "ks_abc", "hash", ["read", "write"])
    assert key.scopes == ["read", "write"]
    with pytest.raises(ValueError, match="exists"):
        repo.create("ci", "ks_other", "hash", ["read"])
    found = repo.find_by_prefix("ks_abc")
    assert found is not None and found.id == key.id
    repo.touch(key.id)
    session.expire_all()
    touched = repo.find_by_prefix("ks_abc")
    assert touched is not None and touched.last_used_at is not None
    assert repo.revoke("ci") is True
    assert repo.revoke("ks_abc") is False  # already revoked
    assert repo.find_by_prefix("ks_abc") is None
    assert repo.find_by_prefix("ks_abc", include_revoked=True) is not None
    assert [k.name for k in repo.list()] == ["ci"]


def test_session_scope_rolls_back_on_error(db_engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(db_engine) as s:
        s.execute(
            text("INSERT INTO fx_rates (pair, date, rate) VALUES ('USDKRW', '2024-01-02', 1)")
        )
        raise RuntimeError("boom")
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM fx_rates")).scalar() == 0


def test_replacing_thousands_of_signals_stays_under_the_parameter_limit(session: Session) -> None:
    repo = SignalRepository(session)
    wide = {
        "score": 1.0,
        "grade": "B",
        "status": "OPEN",
        "entry_price": 1000.0,
        "stop_price": 950,
        "target_price": 1100,
        "quantity": 10,
        "position_size": 10000,
        "foreign_5d": 1,
        "inst_5d": 2,
        "flow_unit": "shares",
        "contraction_ratio": 0.5,
        "payload": {"k": 1},
    }
    # 5,000 rows × 17 columns = 85,000 parameters: more than PostgreSQL's 65,535 per statement.
    rows = [{"ticker": f"{i:06d}", **wide} for i in range(5000)]
    first = repo.replace_for_date("trend", DAY, rows)
    assert (first.inserted, len(first.ids)) == (5000, 5000)
    second = repo.replace_for_date("trend", DAY, rows[:4000])
    assert (second.inserted, second.updated, second.unchanged, second.deleted) == (0, 0, 4000, 1000)
    third = repo.replace_for_date("trend", DAY, [{**r, "score": 2.0} for r in rows[:10]])
    assert (third.inserted, third.updated, third.deleted) == (0, 10, 3990)
