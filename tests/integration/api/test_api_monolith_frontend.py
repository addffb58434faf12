"""The routes the later monolith's frontend calls and krstock lacked (issue 20): golden shapes and
figures on the real legacy ledger imported with ``import legacy``.

Expected figures are computed here from ``signals_log.csv`` itself with the monolith's
definitions (monolith.md §3.5: win = a closed return above 0, simple means of % returns, hold
days of the closed rows), not from krstock's code. Rows the importer flagged as impossible are
left out by default; the test reads which ones from the database and drops them from the CSV.
"""

from __future__ import annotations

import csv
import json
import statistics
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers.api_apps import Built, build_app
from helpers.legacy_folder import legacy_root
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from krstock.db.models import DailyPrice, ScanRun, Signal
from krstock.db.repositories import SignalRepository
from krstock.db.session import make_engine

pytestmark = pytest.mark.integration

FILES = (
    "korean_stocks_list.csv",
    "signals_log.csv",
    "jongga_v2_results_20260115.json",
    "jongga_v2_results_20260116.json",
    "jongga_v2_results_20260205.json",
)
HISTORY_KEYS = {
    "id",
    "ticker",
    "name",
    "market",
    "signalDate",
    "foreign5d",
    "inst5d",
    "score",
    "contractionRatio",
    "entryPrice",
    "status",
    "exitPrice",
    "exitDate",
    "returnPct",
    "holdDays",
}
STATS_KEYS = {
    "total_signals",
    "closed_signals",
    "open_signals",
    "win_rate",
    "avg_return_pct",
    "max_return_pct",
    "min_return_pct",
    "avg_hold_days",
    "total_winners",
    "total_losers",
}
VERSION_FILES = {
    "jongga_v2_latest.json",
    "signals_log.csv",
    "daily_prices.csv",
    "kr_ai_analysis.json",
    "daily_report.json",
}
LEDGER_END = "2026-02-27"


class Legacy:
    def __init__(self, client: TestClient, built: Built, engine: Engine, folder: Path) -> None:
        self.client = client
        self.built = built
        self.engine = engine
        self.folder = folder

    def ledger(self) -> list[dict[str, str]]:
        with (self.folder / "signals_log.csv").open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            row["ticker"] = row["ticker"].zfill(6)
        return rows

    def flagged(self) -> set[tuple[str, str]]:
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT signal_date::text, ticker FROM signals "
                    "WHERE strategy = 'vcp-legacy' AND payload ? 'quality_flags'"
                )
            )
            return {(d, t) for d, t in found}

    def jongga(self, day: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.folder / f"jongga_v2_results_{day}.json").read_text(encoding="utf-8")
        )
        return data


@pytest.fixture(scope="module")
def legacy(
    shared_data: Path,
    fresh_database: Callable[[], AbstractContextManager[str]],
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Legacy]:
    from krstock.ingest.importer import import_legacy

    root = legacy_root(shared_data, tmp_path_factory.mktemp("legacy"), FILES)
    with fresh_database() as url:
        engine = make_engine(url, pool_size=2, max_overflow=1)
        import_legacy(root, engine, rejects_path=root / "rejects.csv")
        built = build_app("gateway", url, redis_url)
        try:
            with TestClient(built.app) as client:
                yield Legacy(client, built, engine, root / "data")
        finally:
            built.state.close()
            engine.dispose()


def _expected_stats(rows: list[dict[str, str]]) -> dict[str, Any]:
    """monolith.md §3.5 over signals_log rows, computed from the CSV's text."""
    closed = [r for r in rows if r["status"] == "CLOSED"]
    returns = [float(r["return_pct"]) for r in closed]
    wins = sum(1 for x in returns if x > 0)
    return {
        "total_signals": len(rows),
        "closed_signals": len(closed),
        "open_signals": sum(1 for r in rows if r["status"] == "OPEN"),
        "win_rate": round(wins / len(closed) * 100, 1),
        "avg_return_pct": round(statistics.fmean(returns), 2),
        "max_return_pct": max(returns),
        "min_return_pct": min(returns),
        "avg_hold_days": round(statistics.fmean(int(r["hold_days"]) for r in closed), 1),
        "total_winners": wins,
        "total_losers": len(closed) - wins,
    }


def _close(served: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(served) >= STATS_KEYS
    for key, value in expected.items():
        if isinstance(value, int):
            assert served[key] == value, key
        else:  # rounding of a float mean may differ in the last digit
            assert served[key] == pytest.approx(value, abs=0.011), key


def test_vcp_stats_are_the_ledgers_figures(legacy: Legacy) -> None:
    rows = legacy.ledger()
    monolith = legacy.client.get("/api/kr/vcp-stats", params={"include_flagged": "true"}).json()
    expected = _expected_stats(rows)
    # the ledger's published figures (monolith.md §3.4/§3.5): 981 rows, 813 closed, 39.5 %
    assert (expected["total_signals"], expected["closed_signals"]) == (981, 813)
    assert expected["win_rate"] == 39.5 and expected["open_signals"] == 168
    _close(monolith, expected)
    assert monolith["flagged"] == {"rows": 12, "included": True}

    flagged = legacy.flagged()
    assert len(flagged) == 12
    kept = [r for r in rows if (r["signal_date"], r["ticker"]) not in flagged]
    default = legacy.client.get("/api/kr/vcp-stats").json()
    _close(default, _expected_stats(kept))
    assert default["total_signals"] == 969 and default["closed_signals"] == 801
    assert default["flagged"] == {"rows": 12, "included": False}


def _history(legacy: Legacy, **params: Any) -> dict[str, Any]:
    r = legacy.client.get("/api/kr/vcp-history", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_vcp_history_lists_the_windows_signals_newest_first(legacy: Legacy) -> None:
    rows = legacy.ledger()
    names = {}
    with (legacy.folder / "korean_stocks_list.csv").open(encoding="utf-8-sig") as f:
        for stock in csv.DictReader(f):
            names[stock["ticker"].zfill(6)] = (stock["name"], stock["market"])

    every = _history(legacy, days=30, end=LEDGER_END, include_flagged="true")
    assert every["count"] == len(every["signals"]) == len(rows) == 981
    assert every["days"] == 30
    for item in every["signals"]:
        assert set(item) == HISTORY_KEYS
    shown = [i["signalDate"] for i in every["signals"]]
    assert shown[0] == "02월 27일" and shown[-1] == "02월 05일"
    assert shown == sorted(shown, reverse=True)  # "MM월 DD일" sorts like the date

    by_key = {(i["ticker"], i["signalDate"]): i for i in every["signals"]}
    for row in rows:
        day = date.fromisoformat(row["signal_date"])
        item = by_key[(row["ticker"], f"{day.month:02d}월 {day.day:02d}일")]
        assert item["status"] == row["status"]
        assert item["foreign5d"] == int(row["foreign_5d"]) and item["inst5d"] == int(row["inst_5d"])
        assert item["score"] == float(row["score"])
        assert item["contractionRatio"] == float(row["contraction_ratio"])
        assert item["entryPrice"] == float(row["entry_price"])
        assert item["holdDays"] == int(row["hold_days"])
        if row["status"] == "CLOSED":
            assert item["exitPrice"] == float(row["exit_price"])
            assert item["exitDate"] == row["exit_date"]
            assert item["returnPct"] == float(row["return_pct"])
        else:
            assert item["exitPrice"] is None and item["exitDate"] is None
            assert item["returnPct"] is None
        if row["ticker"] in names:
            assert (item["name"], item["market"]) == names[row["ticker"]]

    week = _history(legacy, days=7, end=LEDGER_END)
    cutoff = (date.fromisoformat(LEDGER_END) - timedelta(days=7)).isoformat()
    flagged = legacy.flagged()
    expected = [
        r
        for r in rows
        if r["signal_date"] >= cutoff and (r["signal_date"], r["ticker"]) not in flagged
    ]
    assert week["count"] == len(expected) > 0
    assert week["flagged"]["included"] is False

    # today (KST) is far past the ledger: the default window is empty, not an error
    assert _history(legacy)["count"] == 0
    bad = legacy.client.get("/api/kr/vcp-history", params={"days": 0})
    assert 400 <= bad.status_code < 500
    assert legacy.client.get("/api/kr/vcp-history", params={"end": "2026-13-01"}).status_code == 400


def test_data_version_changes_when_a_dataset_changes(legacy: Legacy) -> None:
    first = legacy.client.get("/api/data-version")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    body = first.json()
    assert set(body) == {"versions", "timestamp"}
    versions = body["versions"]
    assert set(versions) == VERSION_FILES
    now = datetime.now(UTC).timestamp()
    assert abs(body["timestamp"] - now) < 60
    # imported ledgers have versions; what was not imported reads as a missing file (0)
    assert 0 < versions["signals_log.csv"] <= now and 0 < versions["jongga_v2_latest.json"] <= now
    assert versions["daily_prices.csv"] == versions["kr_ai_analysis.json"] == 0
    assert versions["daily_report.json"] == 0
    assert legacy.client.get("/api/data-version").json()["versions"] == versions  # stable

    def current() -> dict[str, float]:
        data: dict[str, float] = legacy.client.get("/api/data-version").json()["versions"]
        return data

    with Session(legacy.engine) as session, session.begin():
        some = session.scalar(select(Signal.id).where(Signal.strategy == "vcp-legacy").limit(1))
        assert some is not None
        SignalRepository(session).update_fields(some, current_price=1234.0)
    after_signal = current()
    assert after_signal["signals_log.csv"] > versions["signals_log.csv"]
    assert after_signal["jongga_v2_latest.json"] == versions["jongga_v2_latest.json"]

    with Session(legacy.engine) as session, session.begin():
        session.add(
            DailyPrice(
                ticker="005930", date=date(2026, 3, 3), open=1, high=1, low=1, close=1, volume=1
            )
        )
    seoul_midnight = datetime(2026, 3, 2, 15, tzinfo=UTC).timestamp()  # 2026-03-03 00:00 KST
    assert current()["daily_prices.csv"] == seoul_midnight

    # A run that rewrote a day (a re-scan deleting a signal leaves no newer row) counts too.
    finished = datetime.now(UTC)
    with Session(legacy.engine) as session, session.begin():
        session.add(
            ScanRun(
                id=f"closing-bet-test-{uuid.uuid4().hex[:8]}",
                kind="closing-bet",
                status="SUCCEEDED",
                finished_at=finished,
            )
        )
        session.add(
            ScanRun(
                id=f"pipeline-test-{uuid.uuid4().hex[:8]}",
                kind="pipeline",
                status="SUCCEEDED",
                finished_at=finished,
            )
        )
    after_runs = current()
    assert after_runs["jongga_v2_latest.json"] == pytest.approx(finished.timestamp(), abs=0.002)
    assert after_runs["daily_report.json"] == pytest.approx(finished.timestamp(), abs=0.002)


def test_backtest_summary_labels_the_heuristic_and_shows_tracked_figures(legacy: Legacy) -> None:
    days = ("20260115", "20260116", "20260205")
    changes = [float(s["change_pct"]) for d in days for s in legacy.jongga(d)["signals"]]
    outcomes = [5.0 if c > 0 else -3.0 for c in changes]
    body = legacy.client.get("/api/kr/backtest-summary").json()
    card = body["closing_bet"]
    # the monolith's field values, unchanged: its +5 / -3 heuristic over the past days
    assert card["status"] == "OK" and card["count"] == len(changes) == 51
    assert card["win_rate"] == round(sum(o > 0 for o in outcomes) / len(outcomes) * 100, 1)
    assert card["avg_return"] == round(statistics.fmean(outcomes), 2)
    # ...labelled as such, with the tracker's figures beside it
    assert card["basis"] == "heuristic" and "not a price replay" in card["basis_note"]
    tracked = card["tracked"]
    assert tracked["basis"] == "tracked" and tracked["count"] == 0
    assert tracked["status"] == "No Closed Trades"
    assert body["vcp"]["basis"] == "tracked" and body["vcp"]["count"] == 801

    # close two closing-bet signals the way the tracker does: the tracked card follows them
    with Session(legacy.engine) as session, session.begin():
        ids = list(
            session.scalars(
                select(Signal.id)
                .where(Signal.strategy == "closing-bet")
                .order_by(Signal.id)
                .limit(2)
            )
        )
        repo = SignalRepository(session)
        for signal_id, pct in zip(ids, (2.0, -1.0), strict=True):
            repo.close(
                signal_id,
                exit_price=100.0,
                exit_date=date(2026, 2, 6),
                exit_reason="TIME_EXIT",
                return_pct=pct,
                hold_days=1,
            )
    again = legacy.client.get("/api/kr/backtest-summary").json()["closing_bet"]
    assert {k: again[k] for k in ("status", "count", "win_rate", "avg_return")} == {
        k: card[k] for k in ("status", "count", "win_rate", "avg_return")
    }
    assert again["tracked"]["count"] == 2
    assert again["tracked"]["win_rate"] == 50.0 and again["tracked"]["avg_return"] == 0.5
