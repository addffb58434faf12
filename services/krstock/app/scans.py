"""Scans over the database: read the universe window once, run a strategy, write its signals.

Each scan reads the window its strategy declares (``load_market_window``: two binary COPYs,
prices and flows, parsed straight into arrays), computes with the catalogue's strategy over the
vectorized engines in ``krstock.domain``, and writes its signals and its ``scan_runs`` row in
one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from krstock.ai.news_judge import news_judge
from krstock.app import catalogue
from krstock.app.catalogue import ScanContext, SignalRow
from krstock.app.finite import finite
from krstock.app.kinds import SCAN_KINDS, RunKind, parse_kind
from krstock.app.missing_inputs import flow_reasons, history_reasons, news_reasons, reason
from krstock.app.policies import PolicyLike, resolve_policy
from krstock.app.recorder import ProgressFn, finish_run, recorded_run
from krstock.app.trading_day import require_prices_on
from krstock.config import get_settings
from krstock.db.reader import gate_status, load_market_window, recent_news, tracking_state
from krstock.db.repositories import SignalRepository
from krstock.domain.market import MarketWindow
from krstock.domain.policy import SignalPolicy

NEWS_LOOKBACK_DAYS = 2  # the monolith's news window


def _keep_tracking_state(
    session: Session, kind: str, day: date, rows: Sequence[dict[str, Any]]
) -> None:
    """Carry what the tracker already wrote into ``rows`` (one query for the whole day), so a
    re-scan never re-opens a closed trade nor rewinds an open one's mark to market: a closed
    (or cancelled) signal keeps its status, current price and hold days; an open one that is
    still open keeps its current price and hold days."""
    state = tracking_state(session.connection(), kind, day)
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
    return "market gate RED" if gate_status(conn, day, policy.name) == "RED" else None


def _window_reasons(
    strategy: catalogue.Strategy, window: MarketWindow, day: date
) -> list[dict[str, Any]]:
    """Inputs the window lacks (``missing_inputs``): prices too short, no investor flows."""
    return history_reasons(window, strategy.lookback_days, day) + flow_reasons(
        window, strategy.flow_days
    )


def _blocked_reason(blocked: str, day: date) -> dict[str, Any]:
    return reason(
        "blocked_by_gate",
        f"{blocked} on {day}: the policy blocks new signals (block_signals_on_red)",
        start=day,
        end=day,
        fix="none needed: the gate decided; a policy without block_signals_on_red scans anyway",
    )


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
    kind: str | RunKind,
    day: date,
    policy: PolicyLike = None,
    run_id: str | None = None,
    progress: ProgressFn | None = None,
    scanjob: str | None = None,
    markets: Sequence[str] | str | None = None,
    tickers: Sequence[str] | str | None = None,
    top_n: int | str | None = None,
) -> dict[str, Any]:
    """Scan the universe on ``day`` with the strategy of ``kind`` and store its signals
    (idempotent per (kind, day): a re-run replaces that day's signals by natural key, ids kept).

    ``markets``/``tickers``/``top_n`` narrow the universe (a ScanJob's ``universe``); the
    narrower scan replaces only the signals of the tickers it looked at."""
    strategy = catalogue.strategy(parse_kind(kind, SCAN_KINDS, what="scan kind"))
    kind = strategy.kind
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
            window = load_market_window(
                conn, day, strategy.lookback_days, flow_days=strategy.flow_days
            )
            keep = universe_mask(window, markets=markets, tickers=tickers, top_n=top_n)
            if keep is not None:
                window = window.rows(keep)
            blocked = _gate_blocks(conn, day, resolved) if strategy.needs_gate else None
            run.progress(30, f"{kind}: read {window.shape[0]} tickers × {window.shape[1]} days")
            extra: dict[str, Any] = {}
            rows: list[SignalRow] = []
            reasons = _window_reasons(strategy, window, day)
            if blocked:
                extra["blocked"] = blocked
                reasons.append(_blocked_reason(blocked, day))
            else:
                candidates = strategy.news_tickers(window, resolved) if strategy.needs_news else []
                news = (
                    recent_news(conn, day, candidates, NEWS_LOOKBACK_DAYS)
                    if strategy.needs_news
                    else None
                )
                reasons += news_reasons(candidates, news, day, NEWS_LOOKBACK_DAYS)
                judge = news_judge(engine, get_settings()) if strategy.needs_news else None
                result = strategy.scan(window, resolved, ScanContext(news=news, news_judge=judge))
                rows, extra = result.rows, result.summary
        run.progress(80, f"{kind}: {len(rows)} signals")
        # Strict JSON and no NaN in numeric columns: a value the data cannot give is null.
        records = [{**finite(row), "policy_name": resolved.name} for row in rows]
        counts = {
            "scanned": int(window.shape[0]),
            "signals": len(records),
            **extra,
            "reasons": reasons,
        }
        with Session(engine) as session, session.begin():
            _keep_tracking_state(session, kind, day, records)
            written = SignalRepository(session).replace_for_date(
                kind,
                day,
                records,
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
        for r in records
    ]
    return {
        "kind": str(kind),
        "date": day.isoformat(),
        "run_id": run.run_id,
        "policy": resolved.name,
        "scanned": counts["scanned"],
        "signals": signals,
        **{k: v for k, v in counts.items() if k not in {"scanned", "signals"}},
    }
