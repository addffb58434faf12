"""The Market Gate and the KODEX 200 market status (monolith.md §2.1, §4.4)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from krstock.api.services.serializers import finite, iso
from krstock.api.services.stocks import has_any_price
from krstock.db.models import DailyPrice, MarketGateSnapshot

# The market proxies of /market-status, in order of preference.
MARKET_PROXIES = (("069500", "KODEX 200"), ("005930", "Samsung Elec"))
NO_GATE_YET = "no market gate snapshot yet: run `krstock scan market-gate`"


def gate_snapshot(
    session: Session, on: date | None = None, policy: str = "monolith"
) -> MarketGateSnapshot | None:
    query = select(MarketGateSnapshot).where(MarketGateSnapshot.policy_name == policy)
    if on is not None:
        query = query.where(MarketGateSnapshot.date == on)
    return session.scalars(query.order_by(MarketGateSnapshot.date.desc()).limit(1)).first()


def gate_body(snapshot: MarketGateSnapshot) -> dict[str, Any]:
    """The /market-gate body (§2.1, checklist item 2), top-level index fields included."""
    metrics = finite(dict(snapshot.metrics or {}))
    sectors = [
        {**s, "signal": str(s.get("signal", "neutral")).lower()} for s in (snapshot.sectors or [])
    ]
    return {
        "status": snapshot.status,
        "score": int(snapshot.score),
        "label": snapshot.label,
        "reasons": list(snapshot.reasons or []),
        "sectors": finite(sectors),
        "metrics": metrics,
        "updated_at": iso(snapshot.created_at),
        "date": snapshot.date.isoformat(),
        "kospi_close": metrics.get("kospi_close", metrics.get("kospi")),
        "kospi_change_pct": metrics.get("kospi_change_pct"),
        "kosdaq_close": metrics.get("kosdaq_close", metrics.get("kosdaq")),
        "kosdaq_change_pct": metrics.get("kosdaq_change_pct"),
    }


def legacy_gate_body(session: Session, on: date | None) -> tuple[int, dict[str, Any]]:
    """/api/kr/market-gate: (status, body) of one day's gate, or the newest."""
    snapshot = gate_snapshot(session, on)
    if snapshot is not None:
        return 200, gate_body(snapshot)
    if on is not None:
        return 404, {"error": f"no market gate for {on.isoformat()}", "sectors": []}
    # The monolith's fallback: the KODEX 200 regime when the enhanced gate has nothing.
    code, status = market_status(session)
    if code == 200 and status.get("status") in ("RISK_ON", "RISK_OFF"):
        return 200, {
            "status": status["status"],
            "score": status["score"],
            "sectors": [],
            "error": "Enhanced failed: no market gate snapshot yet (run krstock scan market-gate)",
        }
    return 503, {"error": NO_GATE_YET, "sectors": []}


def gate_dates(session: Session, policy: str = "monolith", limit: int = 400) -> list[str]:
    rows = session.execute(
        select(MarketGateSnapshot.date)
        .where(MarketGateSnapshot.policy_name == policy)
        .order_by(MarketGateSnapshot.date.desc())
        .limit(limit)
    )
    return [row.date.isoformat() for row in rows]


def gate_history(session: Session, policy: str, limit: int) -> list[dict[str, Any]]:
    """Colour and score per day, newest first (/api/v1/market-gate/history)."""
    rows = session.execute(
        select(MarketGateSnapshot.date, MarketGateSnapshot.status, MarketGateSnapshot.score)
        .where(MarketGateSnapshot.policy_name == policy)
        .order_by(MarketGateSnapshot.date.desc())
        .limit(limit)
    )
    return [{"date": x.date.isoformat(), "status": x.status, "score": x.score} for x in rows]


def market_status(session: Session) -> tuple[int, dict[str, Any]]:
    """/api/kr/market-status: KODEX 200 (else Samsung) MA20/50/200 regime (§2.1)."""
    if not has_any_price(session):
        return 404, {"status": "UNKNOWN", "reason": "No price data"}
    for symbol, name in MARKET_PROXIES:
        rows = session.execute(
            select(DailyPrice.date, DailyPrice.close)
            .where(DailyPrice.ticker == symbol)
            .order_by(DailyPrice.date.desc())
            .limit(200)
        ).all()
        if not rows:
            continue
        if len(rows) < 200:
            return 200, {"status": "NEUTRAL", "reason": "Insufficient data"}
        closes = [float(r.close) for r in rows]  # newest first
        return 200, {
            **_regime(closes),
            "date": rows[0].date.isoformat(),
            "symbol": symbol,
            "name": name,
        }
    return 404, {"status": "UNKNOWN", "reason": "Market proxy data not found"}


def _regime(closes: list[float]) -> dict[str, Any]:
    """RISK_ON above MA200 with MA20 over MA50, RISK_OFF below with MA20 under, else NEUTRAL."""
    price = closes[0]
    ma20 = sum(closes[:20]) / 20
    ma50 = sum(closes[:50]) / 50
    ma200 = sum(closes[:200]) / 200
    if price > ma200 and ma20 > ma50:
        status, score = "RISK_ON", 80
    elif price < ma200 and ma20 < ma50:
        status, score = "RISK_OFF", 20
    else:
        status, score = "NEUTRAL", 50
    return {
        "status": status,
        "score": score,
        "current_price": price,
        "ma20": round(ma20, 2),
        "ma50": round(ma50, 2),
        "ma200": round(ma200, 2),
    }
