"""The monolith's VCP signal list (signal_tracker's ``vcp-legacy`` rows), default and ranked."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from krstock.api.services.analyses import attach_analyses
from krstock.api.services.serializers import iso, stored_mark
from krstock.api.services.stocks import names_for
from krstock.api.services.strategies import VCP_STRATEGIES
from krstock.db.models import Signal
from krstock.domain.vcp_ranking import final_score_on, rank_listed

NO_SIGNALS_MESSAGE = "시그널 로그가 없습니다."
SIGNALS_SHOWN = 20  # the monolith's /signals lists the top 20


def vcp_signal_item(
    signal: Signal, names: dict[str, tuple[str, str]], today: date
) -> dict[str, Any]:
    """One signal in the monolith's /signals item shape, with Gen0's final_score as of ``today``."""
    name, market = names.get(signal.ticker, ("", ""))
    payload = signal.payload or {}
    score = float(signal.score) if signal.score is not None else 0.0
    contraction = float(signal.contraction_ratio) if signal.contraction_ratio is not None else 1.0
    foreign = int(signal.foreign_5d or 0)
    inst = int(signal.inst_5d or 0)
    entry = float(signal.entry_price) if signal.entry_price is not None else 0.0
    return {
        "id": signal.id,
        "ticker": signal.ticker,
        "name": name or payload.get("name", ""),
        "market": market or payload.get("market", ""),
        "signal_date": signal.signal_date.isoformat(),
        "foreign_5d": foreign,
        "inst_5d": inst,
        "flow_unit": signal.flow_unit or "shares",
        "score": score,
        "contraction_ratio": contraction,
        "entry_price": entry,
        # None (with price_status "missing") rather than the entry price or 0 %: a number that
        # is not a valuation must not look like one.
        **stored_mark(signal).fields(),
        "status": signal.status,
        "final_score": final_score_on(score, contraction, foreign, inst, signal.signal_date, today),
        "strategy": signal.strategy,
    }


def open_vcp_signals(session: Session, signal_date: date | None = None) -> list[Signal]:
    """The OPEN VCP signals, or every VCP signal of ``signal_date``; best score first."""
    query = select(Signal).where(Signal.strategy.in_(VCP_STRATEGIES))
    if signal_date is not None:
        query = query.where(Signal.signal_date == signal_date)
    else:
        query = query.where(Signal.status == "OPEN")
    return list(session.scalars(query.order_by(Signal.score.desc().nulls_last(), Signal.id)))


def signals_body(session: Session, mode: str, on: date | None, today: date) -> dict[str, Any]:
    """/api/kr/signals before price injection: one item per ticker, analyses attached."""
    rows = open_vcp_signals(session, on)
    if not rows:
        return {"signals": [], "count": 0, "message": NO_SIGNALS_MESSAGE}
    items = _best_per_ticker(rows, names_for(session, [r.ticker for r in rows]), today)
    generated = iso(max((r.updated_at for r in rows if r.updated_at), default=None))
    body: dict[str, Any]
    if mode == "ranked":
        top, kept = rank_listed(items)
        body = {
            "signals": top,
            "count": len(top),
            "total_filtered": kept,
            "generated_at": generated,
        }
    else:
        top = items[:SIGNALS_SHOWN]
        body = {"signals": top, "count": len(items), "generated_at": generated, "source": "db"}
    attach_analyses(session, top)
    return body


def _best_per_ticker(
    rows: list[Signal], names: dict[str, tuple[str, str]], today: date
) -> list[dict[str, Any]]:
    """p10: one entry per ticker, the highest score (rows come best-first)."""
    seen: set[str] = set()
    items = []
    for row in rows:
        if row.ticker not in seen:
            seen.add(row.ticker)
            items.append(vcp_signal_item(row, names, today))
    return items
