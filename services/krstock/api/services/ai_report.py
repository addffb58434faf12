"""The kr_ai_analysis.json document (§3.6): one signal date's analyses with their signals."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from krstock.api.services.analyses import analysis_fields
from krstock.api.services.market import gate_snapshot
from krstock.api.services.serializers import finite, iso
from krstock.api.services.stocks import names_for
from krstock.api.services.strategies import VCP_STRATEGIES
from krstock.api.services.vcp_signals import vcp_signal_item
from krstock.db.models import AIAnalysis, Signal


def ai_analysis_body(session: Session, on: date | None, today: date) -> dict[str, Any] | None:
    """The document for one signal date (default: the newest); None without analyses."""
    if on is None:
        on = session.scalar(select(func.max(AIAnalysis.signal_date)))
        if on is None:
            return None
    rows = [
        row
        for row in session.scalars(
            select(AIAnalysis)
            .where(AIAnalysis.signal_date == on)
            .order_by(AIAnalysis.generated_at.desc().nulls_last(), AIAnalysis.id.desc())
        )
        # The monolith's document holds the VCP analyses (closing-bet ones are served by
        # /api/v1/analyses); rows written before strategies were recorded count as VCP.
        if (row.payload or {}).get("strategy", "vcp") == "vcp"
    ]
    if not rows:
        return None
    newest: dict[str, AIAnalysis] = {}
    for row in rows:
        newest.setdefault(row.ticker, row)
    items = _items(session, on, newest, today)
    generated = max((r.generated_at or r.created_at for r in rows), default=None)
    return {
        "market_indices": _market_indices(session),
        "signals": items,
        "generated_at": iso(generated),
        "signal_date": on.isoformat(),
        "analysis_source": sorted({r.analysis_source for r in rows}),
        "api_status": _api_status(list(newest.values())),
    }


def _api_status(rows: list[AIAnalysis]) -> dict[str, Any]:
    """The monolith's p10 ``api_status``, honest: whether each provider answered, and why not
    (the second, OpenAI-compatible one is often not configured)."""
    statuses = {str((r.payload or {}).get("status", "")) for r in rows}
    if any(r.analysis_source == "gemini" for r in rows):
        gemini = "active"
    elif "rate_limited" in statuses or "over_budget" in statuses:
        gemini = "rate_limited"
    elif statuses & {"rejected", "failed"}:
        gemini = "rules-fallback"
    else:
        gemini = "not-configured"
    notes = sorted({str((r.payload or {}).get("note")) for r in rows} - {"None", ""})
    second = {str((r.recommendations or {}).get("gpt", {}).get("source", "")) for r in rows}
    openai = (
        "active"
        if "openai" in second
        else "rules-fallback"
        if "rules" in second
        else "not-configured"
    )
    return {
        "gemini": gemini,
        "openai": openai,
        "errors": {"gemini": notes[:3] or None, "openai": None},
    }


def _items(
    session: Session, on: date, newest: dict[str, AIAnalysis], today: date
) -> list[dict[str, Any]]:
    """Each analysis's payload, completed by its VCP signal's fields and its AI fields."""
    signal_rows = session.scalars(
        select(Signal).where(
            Signal.signal_date == on,
            Signal.ticker.in_(list(newest)),
            Signal.strategy.in_(VCP_STRATEGIES),
        )
    )
    by_ticker = {s.ticker: s for s in signal_rows}
    names = names_for(session, list(newest))
    items = []
    for ticker, analysis in newest.items():
        base: dict[str, Any] = dict(analysis.payload or {})
        signal = by_ticker.get(ticker)
        if signal is not None:
            for key, value in vcp_signal_item(signal, names, today).items():
                base.setdefault(key, value)
        else:
            name, market = names.get(ticker, ("", ""))
            base.setdefault("ticker", ticker)
            base.setdefault("name", name)
            base.setdefault("market", market)
        base.update({k: v for k, v in analysis_fields(analysis).items() if k not in base or v})
        items.append(base)
    items.sort(key=lambda i: float(i.get("final_score") or i.get("score") or 0), reverse=True)
    return items


def _market_indices(session: Session) -> dict[str, Any]:
    snapshot = gate_snapshot(session, None)
    metrics = finite(snapshot.metrics) if snapshot else {}
    return {
        "kospi": {
            "value": metrics.get("kospi_close", metrics.get("kospi")),
            "change_pct": metrics.get("kospi_change_pct"),
        },
        "kosdaq": {
            "value": metrics.get("kosdaq_close", metrics.get("kosdaq")),
            "change_pct": metrics.get("kosdaq_change_pct"),
        },
    }
