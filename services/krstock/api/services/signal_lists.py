"""Signal lists of the internal services: one day's signals, and filtered lists."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from krstock.api.services.serializers import signal_dict
from krstock.api.services.stocks import names_for
from krstock.api.services.strategies import strategy_aliases
from krstock.db.models import Signal


def named_signals(session: Session, rows: list[Signal]) -> list[dict[str, Any]]:
    """Signals as ``signal_dict``, with their stocks' names and markets."""
    names = names_for(session, [r.ticker for r in rows])
    return [signal_dict(r, *names.get(r.ticker, (None, None))) for r in rows]


def signals_on(
    session: Session, on: date | None, strategy: str | None, limit: int
) -> dict[str, Any]:
    """Signals of one day (default: the newest day with signals), best score first."""
    base = select(Signal)
    if strategy:
        base = base.where(Signal.strategy.in_(strategy_aliases(strategy)))
    if on is None:
        newest = select(func.max(Signal.signal_date))
        if strategy:
            newest = newest.where(Signal.strategy.in_(strategy_aliases(strategy)))
        on = session.scalar(newest)
    if on is None:
        return {"date": None, "signals": [], "count": 0}
    rows = list(
        session.scalars(
            base.where(Signal.signal_date == on)
            .order_by(Signal.score.desc().nulls_last(), Signal.id)
            .limit(limit)
        )
    )
    items = named_signals(session, rows)
    return {"date": on.isoformat(), "signals": items, "count": len(items)}


def list_signals(
    session: Session,
    strategy: str | None,
    status: str | None,
    signal_date: date | None,
    ticker: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The scanner's list: newest signal date first, then by id."""
    query = select(Signal)
    if strategy:
        query = query.where(Signal.strategy.in_(strategy_aliases(strategy)))
    if status:
        query = query.where(Signal.status == status.upper())
    if signal_date:
        query = query.where(Signal.signal_date == signal_date)
    if ticker:
        query = query.where(Signal.ticker == ticker)
    rows = list(session.scalars(query.order_by(Signal.signal_date.desc(), Signal.id).limit(limit)))
    return named_signals(session, rows)
