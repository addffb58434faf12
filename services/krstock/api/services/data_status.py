"""/api/system/data-status: the monolith's data files, now tables, with counts and freshness."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from krstock.api import dispatch
from krstock.api.services.serializers import iso
from krstock.api.services.strategies import CLOSING_BET_STRATEGIES, VCP_STRATEGIES, strategy_in
from krstock.db.models import ScanRun

_VCP_ROWS = strategy_in(VCP_STRATEGIES)
_CLOSING_BET_ROWS = strategy_in(CLOSING_BET_STRATEGIES)

# What each monolith data file became, and how its freshness is read.
DATA_TABLES: tuple[dict[str, Any], ...] = (
    {
        "name": "Daily Prices",
        "table": "daily_prices",
        "fresh": "SELECT max(date)::text FROM daily_prices",
        "link": "/dashboard/kr",
        "menu": "Overview",
    },
    {
        "name": "Institutional Trend",
        "table": "investor_flows",
        "fresh": "SELECT max(date)::text FROM investor_flows",
        "link": "/dashboard/kr/vcp",
        "menu": "VCP Signals",
    },
    {
        "name": "AI Analysis",
        "table": "ai_analyses",
        "fresh": "SELECT max(coalesce(generated_at, created_at))::text FROM ai_analyses",
        "link": "/dashboard/kr/vcp",
        "menu": "VCP Signals",
    },
    {
        "name": "VCP Signals",
        "table": "signals",
        "where": _VCP_ROWS,
        "fresh": f"SELECT max(updated_at)::text FROM signals WHERE {_VCP_ROWS}",
        "link": "/dashboard/kr/vcp",
        "menu": "VCP Signals",
    },
    {
        "name": "AI Jongga V2",
        "table": "signals",
        "where": _CLOSING_BET_ROWS,
        "fresh": f"SELECT max(updated_at)::text FROM signals WHERE {_CLOSING_BET_ROWS}",
        "link": "/dashboard/kr/closing-bet",
        "menu": "종가베팅",
    },
)


def human_size(size: int | None) -> str:
    """The monolith's sizes: "1.2 MB", "3.4 KB", "12 B", or "-"."""
    if size is None or size < 0:
        return "-"
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} B"


def _file_entry(session: Session, spec: dict[str, Any]) -> dict[str, Any]:
    """One former data file: its table's row count, newest date and size."""
    where = f" WHERE {spec['where']}" if "where" in spec else ""
    count = int(session.execute(text(f"SELECT count(*) FROM {spec['table']}{where}")).scalar_one())
    fresh = session.execute(text(spec["fresh"])).scalar()
    size = session.execute(
        text("SELECT pg_total_relation_size(to_regclass(:t))"), {"t": spec["table"]}
    ).scalar()
    return {
        "name": spec["name"],
        "path": f"db:{spec['table']}" + (f" ({spec['where']})" if "where" in spec else ""),
        "exists": count > 0,
        "lastModified": fresh or "",
        "size": human_size(int(size) if size is not None and count else None),
        "rowCount": count,
        "link": spec["link"],
        "menu": spec["menu"],
    }


def _update_status(session: Session) -> dict[str, Any]:
    """The newest pipeline run: is one active, when did the last one end, how far is it."""
    active = session.scalars(
        select(ScanRun)
        .where(ScanRun.kind == "pipeline", ScanRun.status.in_(dispatch.ACTIVE))
        .order_by(ScanRun.created_at.desc())
        .limit(1)
    ).first()
    last = session.scalars(
        select(ScanRun)
        .where(ScanRun.kind == "pipeline")
        .order_by(ScanRun.created_at.desc())
        .limit(1)
    ).first()
    return {
        "isRunning": active is not None,
        "lastRun": iso(last.finished_at or last.created_at) if last else "",
        "progress": f"{active.progress:.0f}%" if active is not None else "",
    }


def data_status(session: Session) -> dict[str, Any]:
    files = [_file_entry(session, spec) for spec in DATA_TABLES]
    return {"files": files, "update_status": _update_status(session)}
