"""Scans over the database: read the universe window once, run an engine, write its signals.

Each scan reads everything it needs in one set-based query (``load_market_window``), computes
with the vectorized engines in ``krstock.domain``, and writes its signals and its ``scan_runs``
row in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from krstock.app.finite import finite
from krstock.app.policies import PolicyLike, resolve_policy
from krstock.app.recorder import ProgressFn, finish_run, recorded_run
from krstock.app.trading_day import require_prices_on
from krstock.db.models import MarketGateSnapshot, NewsItem, Signal
from krstock.db.reader import load_market_window
from krstock.db.repositories import SignalRepository
from krstock.domain.closing_bet import run_closing_bet
from krstock.domain.flows import analyze_market_flows
from krstock.domain.market import MarketWindow
from krstock.domain.policy import SignalPolicy
from krstock.domain.trend_template import evaluate_trend_template, trend_template_rows
from krstock.domain.vcp import detect_vcp_window, vcp_rows
from krstock.domain.vcp_legacy import scan_legacy_signals

SCAN_KINDS = ("vcp", "vcp-legacy", "trend-template", "closing-bet")
# Trading days read per scan: the 12-month RS return and 52-week extremes need ~252.
WINDOW_DAYS = 260
# Investor flows read per scan: the longest flow window (60-day sums) — flows are most of the rows.
FLOW_DAYS = 60
NEWS_LOOKBACK_DAYS = 2  # the monolith's news window
KST = ZoneInfo("Asia/Seoul")


def _iso(day: np.datetime64) -> str:
    return str(np.datetime_as_string(np.asarray(day).astype("datetime64[D]")))


def _finite_int(value: Any) -> int | None:
    return None if value is None or not np.isfinite(value) else round(float(value))


def _vcp_legacy(window: MarketWindow, policy: SignalPolicy) -> list[dict[str, Any]]:
    flows = analyze_market_flows(window, policy.flows, "shares")
    out = []
    for s in scan_legacy_signals(window, flows, policy.vcp_legacy):
        row = s.as_row()
        out.append(
            {
                "ticker": s.ticker,
                "status": "OPEN",
                "score": s.score,
                "score_breakdown": {"supply_demand_index": s.score},
                "entry_price": s.entry_price,
                "current_price": s.entry_price,
                "foreign_5d": s.foreign_5d,
                "inst_5d": s.inst_5d,
                "flow_unit": "shares",
                "contraction_ratio": s.contraction_ratio,
                "hold_days": 0,
                "payload": row,
            }
        )
    return out


def _vcp(window: MarketWindow, policy: SignalPolicy) -> list[dict[str, Any]]:
    trend = evaluate_trend_template(window.close, window.high, window.low, policy.trend_template)
    result = detect_vcp_window(window, policy.vcp, trend)
    flows = analyze_market_flows(window, policy.flows, "shares")
    foreign_5d = flows.windows.foreign_net[5]
    inst_5d = flows.windows.inst_net[5]
    last_close = window.close[:, -1]
    rows = []
    for item in vcp_rows(result, window.tickers, _iso(window.dates[-1])):
        i = window.index_of(item["ticker"])
        # A breakout is an entry at today's close; a setup is a watch-list item until it breaks out.
        is_breakout = item["status"] == "breakout"
        rows.append(
            {
                "ticker": item["ticker"],
                "status": "OPEN" if is_breakout else "PENDING",
                "score": item["score"],
                "score_breakdown": item["components"],
                "entry_price": float(last_close[i]),
                "current_price": float(last_close[i]),
                "stop_price": None,
                "foreign_5d": _finite_int(foreign_5d[i]),
                "inst_5d": _finite_int(inst_5d[i]),
                "flow_unit": "shares",
                "hold_days": 0,
                "payload": item,
            }
        )
    return rows


def _trend_template(window: MarketWindow, policy: SignalPolicy) -> list[dict[str, Any]]:
    result = evaluate_trend_template(window.close, window.high, window.low, policy.trend_template)
    return [
        {
            "ticker": item["ticker"],
            "status": "PENDING",  # a screen, not a trade: the tracker leaves it alone
            "score": item["rs_rank"],
            "score_breakdown": {"rs_rank": item["rs_rank"], "rs": item["rs"]},
            "current_price": item["close"],
            "payload": item,
        }
        for item in trend_template_rows(result, window.tickers)
    ]


def _news_for(conn: Connection, day: date, tickers: Sequence[str]) -> dict[str, list[dict]]:
    """Headlines published in the monolith's 2-day window up to ``day`` (KST calendar days),
    the top 3 per ticker by source credibility then recency (one query)."""
    if not tickers:
        return {}
    start = datetime.combine(day - timedelta(days=NEWS_LOOKBACK_DAYS - 1), time.min, tzinfo=KST)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=KST)
    rows = conn.execute(
        select(
            NewsItem.ticker, NewsItem.title, NewsItem.source, NewsItem.published_at, NewsItem.url
        )
        .where(
            NewsItem.ticker.in_(list(tickers)),
            NewsItem.published_at >= start,
            NewsItem.published_at < end,
        )
        .order_by(
            NewsItem.ticker, NewsItem.credibility.desc().nulls_last(), NewsItem.published_at.desc()
        )
    ).all()
    news: dict[str, list[dict]] = {}
    for ticker, title, source, published_at, url in rows:
        items = news.setdefault(ticker, [])
        if len(items) < 3:  # the monolith keeps the top 3
            items.append(
                {
                    "title": title,
                    "source": source or "",
                    "published_at": published_at.astimezone(KST).isoformat()
                    if published_at
                    else "",
                    "url": url,
                }
            )
    return news


def _closing_bet(
    window: MarketWindow, policy: SignalPolicy, news: Mapping[str, Sequence[Mapping[str, Any]]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    started = perf_counter()
    run = run_closing_bet(window, policy.closing_bet, news=news)
    elapsed_ms = (perf_counter() - started) * 1000
    body = run.to_dict(updated_at=datetime.now(UTC).isoformat(), processing_time_ms=elapsed_ms)
    rows = [
        {
            "ticker": s["stock_code"],
            "status": "OPEN",  # entry at today's close
            "grade": s["grade"],
            "score": s["score"]["total"],
            "score_breakdown": s["score"],
            "entry_price": s["entry_price"],
            "current_price": s["entry_price"],
            "stop_price": s["stop_price"],
            "target_price": s["target_price"],
            "quantity": s["quantity"],
            "position_size": s["position_size"],
            "foreign_5d": s.get("foreign_5d"),
            "inst_5d": s.get("inst_5d"),
            "flow_unit": "shares",
            "hold_days": 0,
            "payload": s,
        }
        for s in run.signals
    ]
    summary = {k: v for k, v in body.items() if k != "signals"}
    summary["candidates_scored"] = run.candidates
    return rows, summary


def _keep_tracking_state(
    session: Session, kind: str, day: date, rows: Sequence[dict[str, Any]]
) -> None:
    """Carry what the tracker already wrote into ``rows`` (one query for the whole day), so a
    re-scan never re-opens a closed trade nor rewinds an open one's mark to market: a closed
    (or cancelled) signal keeps its status, current price and hold days; an open one that is
    still open keeps its current price and hold days."""
    tracked = session.execute(
        select(Signal.ticker, Signal.status, Signal.current_price, Signal.hold_days).where(
            Signal.strategy == kind,
            Signal.signal_date == day,
            Signal.status.in_(("OPEN", "CLOSED", "CANCELLED")),
        )
    ).all()
    state = {str(ticker): (status, price, hold) for ticker, status, price, hold in tracked}
    for row in rows:
        if row["ticker"] not in state:
            continue
        status, price, hold = state[row["ticker"]]
        if status != "OPEN":
            row["status"] = status
        elif row.get("status") != "OPEN":
            continue  # no longer an entry under this policy: the scan decides
        row["current_price"], row["hold_days"] = price, hold


def _gate_blocks(conn: Connection, day: date, policy: SignalPolicy) -> str | None:
    """The reason new signals are blocked today, or None (only with block_signals_on_red)."""
    if not policy.market_gate.block_signals_on_red:
        return None
    status = conn.execute(
        select(MarketGateSnapshot.status).where(
            MarketGateSnapshot.date == day, MarketGateSnapshot.policy_name == policy.name
        )
    ).scalar()
    return "market gate RED" if status == "RED" else None


def _names(value: Sequence[str] | str | None) -> list[str] | None:
    """A list parameter as the API sends it (a list) or as a CLI/--param string ("a,b")."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    names = [str(v).strip() for v in items if str(v).strip()]
    return names or None


def universe_mask(
    window: MarketWindow,
    *,
    markets: Sequence[str] | None = None,
    tickers: Sequence[str] | None = None,
    top_n: int | None = None,
) -> npt.NDArray[np.bool_] | None:
    """The tickers a ScanJob's ``universe`` keeps (None: the whole market).

    ``markets`` and ``tickers`` select; ``top_n`` then keeps the N most traded (KRW) on the
    window's last day among those selected.
    """
    if not markets and not tickers and top_n is None:
        return None
    if top_n is not None and top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    keep = np.ones(window.shape[0], dtype=bool)
    if markets:
        keep &= np.isin(window.markets.astype(str), [m.upper() for m in markets])
    if tickers:
        keep &= np.isin(window.tickers, list(tickers))
    if top_n is not None and keep.sum() > top_n:
        value = np.where(keep, np.nan_to_num(window.trading_value[:, -1], nan=-1.0), -np.inf)
        keep = np.zeros_like(keep)
        keep[np.argsort(-value, kind="stable")[:top_n]] = True
    return keep


def run_scan(
    engine: Engine,
    *,
    kind: str,
    day: date,
    policy: PolicyLike = None,
    run_id: str | None = None,
    progress: ProgressFn | None = None,
    scanjob: str | None = None,
    markets: Sequence[str] | str | None = None,
    tickers: Sequence[str] | str | None = None,
    top_n: int | str | None = None,
) -> dict[str, Any]:
    """Scan the universe on ``day`` with ``kind`` and store its signals (idempotent per
    (kind, day): a re-run replaces that day's signals by natural key, ids kept).

    ``markets``/``tickers``/``top_n`` narrow the universe (a ScanJob's ``universe``); the
    narrower scan replaces only the signals of the tickers it looked at."""
    if kind not in SCAN_KINDS:
        raise ValueError(f"unknown scan kind {kind!r}; expected one of {', '.join(SCAN_KINDS)}")
    resolved = resolve_policy(policy)
    markets, tickers = _names(markets), _names(tickers)
    top_n = int(top_n) if top_n not in (None, "") else None
    universe = {"markets": markets, "tickers": tickers, "top_n": top_n}
    params: dict[str, Any] = {"policy_fingerprint": resolved.fingerprint()}
    params.update({k: v for k, v in universe.items() if v is not None})
    with recorded_run(
        engine,
        kind=kind,
        day=day,
        run_id=run_id,
        params=params,
        policy_name=resolved.name,
        scanjob=scanjob,
        progress=progress,
    ) as run:
        with engine.connect() as conn:
            require_prices_on(conn, day)
            flow_days = 0 if kind == "trend-template" else FLOW_DAYS
            window = load_market_window(conn, day, WINDOW_DAYS, flow_days=flow_days)
            keep = universe_mask(window, markets=markets, tickers=tickers, top_n=top_n)
            if keep is not None:
                window = window.rows(keep)
            blocked = _gate_blocks(conn, day, resolved)
            run.progress(30, f"{kind}: read {window.shape[0]} tickers × {window.shape[1]} days")
            extra: dict[str, Any] = {}
            if blocked:
                rows: list[dict[str, Any]] = []
                extra["blocked"] = blocked
            elif kind == "vcp-legacy":
                rows = _vcp_legacy(window, resolved)
            elif kind == "vcp":
                rows = _vcp(window, resolved)
            elif kind == "trend-template":
                rows = _trend_template(window, resolved)
            else:
                last = window.close[:, -1]
                prev = window.close[:, -2] if window.shape[1] > 1 else last
                movers = window.tickers[np.nan_to_num(last / prev - 1) * 100 >= 5.0]
                news = _news_for(conn, day, [str(t) for t in movers])
                rows, extra = _closing_bet(window, resolved, news)
        run.progress(80, f"{kind}: {len(rows)} signals")
        # Strict JSON and no NaN in numeric columns: a value the data cannot give is null.
        rows = [{**finite(row), "policy_name": resolved.name} for row in rows]
        counts = {"scanned": int(window.shape[0]), "signals": len(rows), **extra}
        with Session(engine) as session, session.begin():
            _keep_tracking_state(session, kind, day, rows)
            written = SignalRepository(session).replace_for_date(
                kind,
                day,
                rows,
                run_id=run.run_id,
                scope=None if keep is None else [str(t) for t in window.tickers],
            )
            counts.update(
                inserted=written.inserted, updated=written.updated, deleted=written.deleted
            )
            finish_run(session, run.run_id, counts)
        ids = written.ids
    row_of = {str(t): i for i, t in enumerate(window.tickers)}
    signals = [
        {
            "id": ids.get(r["ticker"]),
            "ticker": r["ticker"],
            "name": str(window.names[row_of[r["ticker"]]]),
            "market": str(window.markets[row_of[r["ticker"]]]),
            **{k: v for k, v in r.items() if k not in {"ticker", "policy_name"}},
        }
        for r in rows
    ]
    return {
        "kind": kind,
        "date": day.isoformat(),
        "run_id": run.run_id,
        "policy": resolved.name,
        "scanned": counts["scanned"],
        "signals": signals,
        **{k: v for k, v in counts.items() if k not in {"scanned", "signals"}},
    }
