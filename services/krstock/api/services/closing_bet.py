"""Closing-bet (jongga V2) results in the jongga_v2_results_YYYYMMDD.json shape (§3.7)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from krstock.api import dispatch
from krstock.api.services.serializers import iso
from krstock.api.services.stocks import names_for
from krstock.api.services.strategies import CLOSING_BET_STRATEGIES
from krstock.db.models import ScanRun, Signal

GRADE_ORDER = {"S": 0, "A": 1, "B": 2, "C": 3}


def closing_bet_dates(session: Session, limit: int = 400) -> list[date]:
    """Dates with closing-bet signals, newest first."""
    rows = session.execute(
        select(Signal.signal_date)
        .where(Signal.strategy.in_(CLOSING_BET_STRATEGIES))
        .group_by(Signal.signal_date)
        .order_by(Signal.signal_date.desc())
        .limit(limit)
    )
    return [r.signal_date for r in rows]


def _flat_checklist(item: dict[str, Any]) -> None:
    """Add the forks' flat checklist keys next to Gen1's nested ones (§3.7), when missing."""
    checklist = item.get("checklist") or {}
    mandatory = checklist.get("mandatory") or {}
    optional = checklist.get("optional") or {}
    news_items = item.get("news_items") or []
    item.setdefault("has_news", bool(mandatory.get("news", bool(news_items))))
    item.setdefault(
        "news_sources", [n.get("source", "") for n in news_items if isinstance(n, dict)]
    )
    item.setdefault("is_new_high", bool(optional.get("chart", False)))
    item.setdefault("is_breakout", bool(optional.get("chart", False)))
    item.setdefault("supply_positive", bool(optional.get("supply", False)))
    item.setdefault("volume_surge", bool(mandatory.get("volume", False)))


def jongga_item(signal: Signal, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """One signal as Gen1's ``Signal.to_dict``: the stored payload, gaps filled from the row."""
    name, market = names.get(signal.ticker, ("", ""))
    item: dict[str, Any] = dict(signal.payload or {})
    breakdown = signal.score_breakdown or {}
    item.setdefault("id", None)
    item.setdefault("stock_code", signal.ticker)
    item.setdefault("stock_name", name)
    item.setdefault("market", market)
    item.setdefault("signal_date", signal.signal_date.isoformat())
    item.setdefault("grade", signal.grade)
    if "score" not in item or not isinstance(item.get("score"), dict):
        item["score"] = {**breakdown, "total": signal.score}
    item.setdefault("checklist", breakdown.get("checklist", {}))
    item.setdefault("entry_price", signal.entry_price)
    item.setdefault("stop_price", signal.stop_price)
    item.setdefault("target_price", signal.target_price)
    item.setdefault("quantity", signal.quantity)
    item.setdefault("position_size", signal.position_size)
    item.setdefault("foreign_5d", signal.foreign_5d)
    item.setdefault("inst_5d", signal.inst_5d)
    item.setdefault("status", "PENDING")
    item.setdefault("news_items", [])
    item.setdefault("themes", [])
    item.setdefault("sector", None)
    item.setdefault("current_price", signal.current_price or signal.entry_price)
    item.setdefault("signal_time", iso(signal.created_at))
    _flat_checklist(item)
    return item


def _grade_sort_key(item: dict[str, Any]) -> tuple[int, float]:
    score = item.get("score")
    total = score.get("total") if isinstance(score, dict) else score
    return GRADE_ORDER.get(str(item.get("grade")), 9), -float(total or 0)


def _counts(items: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """(signals per grade S/A/B/C, signals per market that has any, as the engine wrote it)."""
    by_grade = {"S": 0, "A": 0, "B": 0, "C": 0}
    by_market: dict[str, int] = {}
    for item in items:
        grade = str(item.get("grade"))
        if grade in by_grade:
            by_grade[grade] += 1
        market = str(item.get("market") or "")
        if market:
            by_market[market] = by_market.get(market, 0) + 1
    return by_grade, by_market


def _run_counts(session: Session, signals: list[Signal]) -> dict[str, Any]:
    """The counts the closing-bet run recorded (total candidates, processing time)."""
    run_id = next((s.run_id for s in signals if s.run_id), None)
    if not run_id:
        return {}
    row = session.execute(
        text("SELECT counts FROM scan_runs WHERE id = :id"), {"id": run_id}
    ).first()
    return dict(row.counts) if row and row.counts else {}


def jongga_result(session: Session, on: date) -> dict[str, Any] | None:
    """The result body for one date, or None without signals."""
    signals = list(
        session.scalars(
            select(Signal).where(
                Signal.strategy.in_(CLOSING_BET_STRATEGIES), Signal.signal_date == on
            )
        )
    )
    if not signals:
        return None
    names = names_for(session, [s.ticker for s in signals])
    items = sorted((jongga_item(s, names) for s in signals), key=_grade_sort_key)
    by_grade, by_market = _counts(items)
    run_counts = _run_counts(session, signals)
    updated = max((s.updated_at for s in signals if s.updated_at), default=None)
    return {
        "date": on.isoformat(),
        "total_candidates": int(run_counts.get("total_candidates", len(items))),
        "filtered_count": len(items),
        "signals": items,
        "by_grade": by_grade,
        "by_market": by_market,
        "processing_time_ms": float(run_counts.get("processing_time_ms", 0.0)),
        "updated_at": iso(updated),
    }


def latest_result(session: Session, today: date) -> dict[str, Any]:
    """The newest date's result; the monolith's "No data available" body without any."""
    dates = closing_bet_dates(session, limit=1)
    if not dates:
        return {
            "date": today.isoformat(),
            "signals": [],
            "total_candidates": 0,
            "filtered_count": 0,
            "message": "No data available",
        }
    result = jongga_result(session, dates[0])
    assert result is not None  # the date came from a signal row
    return result


def run_status(session: Session) -> dict[str, Any]:
    """/jongga-v2/status: is a closing-bet run active, and the newest run's time and id."""
    active = dispatch.active_run(session, "closing_bet")
    last = session.scalars(
        select(ScanRun)
        .where(ScanRun.kind.in_(dispatch.kind_aliases("closing_bet")))
        .order_by(ScanRun.created_at.desc())
        .limit(1)
    ).first()
    return {
        "isRunning": active is not None,
        "updated_at": iso(last.finished_at or last.created_at) if last else None,
        "status": "RUNNING" if active is not None else "IDLE",
        "run_id": last.id if last else None,
    }


def newest_grades(session: Session) -> list[str]:
    """The grades of the newest closing-bet day's signals."""
    latest = closing_bet_dates(session, limit=1)
    if not latest:
        return []
    rows = session.execute(
        select(Signal.grade).where(
            Signal.strategy.in_(CLOSING_BET_STRATEGIES), Signal.signal_date == latest[0]
        )
    )
    return [g for (g,) in rows if g]


def find_signal(result: dict[str, Any] | None, code: str) -> dict[str, Any] | None:
    """The item of stock ``code`` in a result body, if any."""
    return next((s for s in (result or {}).get("signals", []) if s.get("stock_code") == code), None)
