"""Row → JSON shapes for /api/v1 and the internal services (one place for each resource), and
the JSON-safe value helpers every body uses."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from krstock.app.prices import UNPRICED, Mark
from krstock.db.models import AIAnalysis, DailyPrice, InvestorFlow, Signal, Stock, Trade


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def finite(value: Any) -> Any:
    """NaN and ±Inf become None (the monolith's JSON-safe metrics rule)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def stored_mark(signal: Signal) -> Mark:
    """A signal's stored valuation: the refresher's (OPEN) or the exit (CLOSED). Missing when
    neither exists, e.g. a migrated signal newer than every price (never the entry as a price)."""
    price = signal.current_price
    if price is None and signal.status == "CLOSED":
        price = signal.exit_price
    if price is None or signal.return_pct is None:
        return UNPRICED
    return Mark(float(price), float(signal.return_pct), "ok")


def signal_dict(
    signal: Signal, name: str | None = None, market: str | None = None
) -> dict[str, Any]:
    return {
        "id": signal.id,
        "strategy": signal.strategy,
        "ticker": signal.ticker,
        "name": name,
        "market": market,
        "signal_date": iso(signal.signal_date),
        "status": signal.status,
        "grade": signal.grade,
        "score": signal.score,
        "score_breakdown": finite(signal.score_breakdown or {}),
        "entry_price": signal.entry_price,
        "stop_price": signal.stop_price,
        "target_price": signal.target_price,
        "quantity": signal.quantity,
        "position_size": signal.position_size,
        "foreign_5d": signal.foreign_5d,
        "inst_5d": signal.inst_5d,
        "flow_unit": signal.flow_unit,
        "contraction_ratio": signal.contraction_ratio,
        **stored_mark(signal).fields(),
        "exit_price": signal.exit_price,
        "exit_date": iso(signal.exit_date),
        "exit_reason": signal.exit_reason,
        "hold_days": signal.hold_days,
        "policy_name": signal.policy_name,
        "run_id": signal.run_id,
        "updated_at": iso(signal.updated_at),
    }


def stock_dict(stock: Stock) -> dict[str, Any]:
    return {
        "ticker": stock.ticker,
        "name": stock.name,
        "market": stock.market,
        "sector": stock.sector,
        "listing_status": stock.listing_status,
        "is_etf": stock.is_etf,
        "is_etn": stock.is_etn,
        "is_spac": stock.is_spac,
        "is_reit": stock.is_reit,
        "is_preferred": stock.is_preferred,
        "yahoo_symbol": stock.yahoo_symbol,
    }


def price_dict(bar: DailyPrice) -> dict[str, Any]:
    return {
        "ticker": bar.ticker,
        "date": iso(bar.date),
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "trading_value": bar.trading_value,
        "change": bar.change,
        "change_pct": finite(bar.change_pct),
        "halted": bar.halted,
    }


def flow_dict(flow: InvestorFlow) -> dict[str, Any]:
    return {
        "ticker": flow.ticker,
        "date": iso(flow.date),
        "investor": flow.investor,
        "net_volume_shares": flow.net_volume,
        "net_value_krw": flow.net_value,
    }


def analysis_dict(row: AIAnalysis) -> dict[str, Any]:
    return {
        "id": row.id,
        "signal_id": row.signal_id,
        "ticker": row.ticker,
        "signal_date": iso(row.signal_date),
        "analysis_source": row.analysis_source,
        "action": row.action,
        "confidence": row.confidence,
        "reason": row.reason,
        "model": row.model,
        "recommendations": row.recommendations or {},
        "news": row.news or [],
        "fundamentals": row.fundamentals or {},
        "generated_at": iso(row.generated_at),
    }


def trade_dict(trade: Trade) -> dict[str, Any]:
    return {
        "id": trade.id,
        "signal_id": trade.signal_id,
        "strategy": trade.strategy,
        "ticker": trade.ticker,
        "grade": trade.grade,
        "entry_date": iso(trade.entry_date),
        "entry_price": trade.entry_price,
        "exit_date": iso(trade.exit_date),
        "exit_price": trade.exit_price,
        "quantity": trade.quantity,
        "gross_return_pct": trade.gross_return_pct,
        "net_return_pct": trade.net_return_pct,
        "cost_pct": trade.cost_pct,
        "exit_reason": trade.exit_reason,
        "hold_days": trade.hold_days,
    }
