"""The Market Gate for one day, from the index, sector-ETF and FX series in the database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from krstock.app.kinds import RunKind
from krstock.app.missing_inputs import series_reasons
from krstock.app.policies import PolicyLike, resolve_policy
from krstock.app.recorder import ProgressFn, finish_run, recorded_run
from krstock.app.trading_day import require_prices_on
from krstock.db.models import MarketGateSnapshot
from krstock.db.reader import SeriesWindow, load_fx, load_series
from krstock.db.repositories import MarketGateRepository
from krstock.domain.market_gate import market_gate, market_status
from krstock.marketdata.base import KOSDAQ, KOSPI, KOSPI200, SECTOR_ETFS, USDKRW

SERIES_DAYS = 260  # one year: MA200 for market-status, 60+ rows for the gate


def run_market_gate(
    engine: Engine,
    *,
    day: date,
    policy: PolicyLike = None,
    run_id: str | None = None,
    progress: ProgressFn | None = None,
    scanjob: str | None = None,
) -> dict[str, Any]:
    """Compute and store the day's gate; ``changed`` tells whether the colour moved."""
    resolved = resolve_policy(policy)
    with recorded_run(
        engine,
        kind=RunKind.MARKET_GATE,
        day=day,
        run_id=run_id,
        policy_name=resolved.name,
        scanjob=scanjob,
        progress=progress,
    ) as run:
        codes = [KOSPI, KOSDAQ, KOSPI200, *SECTOR_ETFS]
        with engine.connect() as conn:
            require_prices_on(conn, day)
            series = load_series(conn, codes, day, SERIES_DAYS)
            fx = load_fx(conn, USDKRW, day, SERIES_DAYS)
            previous = conn.execute(
                select(MarketGateSnapshot.status)
                .where(
                    MarketGateSnapshot.policy_name == resolved.name, MarketGateSnapshot.date < day
                )
                .order_by(MarketGateSnapshot.date.desc())
                .limit(1)
            ).scalar()
        sectors = {
            code: series[code] for code in (KOSPI200, *SECTOR_ETFS) if len(series[code].close)
        }
        body = market_gate(
            kospi=series[KOSPI] if len(series[KOSPI].close) else None,
            kosdaq=series[KOSDAQ] if len(series[KOSDAQ].close) else None,
            usd_krw=fx if len(fx.close) else None,
            sectors=sectors,
            updated_at=datetime.now(UTC).isoformat(),
            policy=resolved.market_gate,
        )
        reasons = _missing_series(series, fx, day, resolved.market_gate.min_rows)
        proxy = series[KOSPI200] if len(series[KOSPI200].close) else None
        status = market_status(proxy, resolved.market_gate)
        run.progress(70, f"market gate {body['status']} {body['score']}")
        with Session(engine) as session, session.begin():
            MarketGateRepository(session).upsert(
                {
                    "date": day,
                    "policy_name": resolved.name,
                    "status": body["status"],
                    "score": body["score"],
                    "label": body["label"],
                    "reasons": body["reasons"],
                    "sectors": body["sectors"],
                    "metrics": {**body["metrics"], "kospi_close": body.get("kospi_close")},
                    "market_status": status.get("status"),
                    "run_id": run.run_id,
                }
            )
            counts = {
                "status": body["status"],
                "score": body["score"],
                "previous": previous,
                "reasons": reasons,
            }
            finish_run(session, run.run_id, counts)
    return {
        "kind": "market-gate",
        "date": day.isoformat(),
        "run_id": run.run_id,
        "policy": resolved.name,
        "gate": body,
        "market_status": status,
        "previous_status": previous,
        "changed": previous is not None and previous != body["status"],
        # What the gate lacked (``gate.reasons`` is the gate's own commentary).
        "reasons": reasons,
    }


def _missing_series(
    series: dict[str, SeriesWindow], fx: SeriesWindow, day: date, min_rows: int
) -> list[dict[str, Any]]:
    """The index (KOSPI, or its KODEX 200 stand-in) and the FX series, when too short."""
    short: dict[str, tuple[int, int]] = {}
    kospi, proxy = len(series[KOSPI].close), len(series[KOSPI200].close)
    if max(kospi, proxy) < min_rows:
        short[KOSPI] = (kospi, min_rows)
        short[KOSPI200] = (proxy, min_rows)
    if len(series[KOSDAQ].close) < min_rows:
        short[KOSDAQ] = (len(series[KOSDAQ].close), min_rows)
    if len(fx.close) == 0:  # the gate then assumes the policy's default rate
        short[USDKRW] = (0, 1)
    return series_reasons(short, day, SERIES_DAYS)
