"""A small, explicit synthetic dataset for the API tests (written straight into the tables).

Every row says ``source="sample"``: this is fixture data, never served as if it were market
data. Prices are a seeded random walk over KRX weekdays; KODEX 200 (069500) trends up so the
market-status route has a known answer (RISK_ON). Signals, analyses, gates, runs and trades are
written in the shapes the pipeline writes, so every route has something to serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert

from krstock.db.bulk import bulk_upsert
from krstock.db.models import (
    AIAnalysis,
    MarketGateSnapshot,
    ScanRun,
    Signal,
    Trade,
)

SOURCE = "sample"


@dataclass(frozen=True)
class SeedSummary:
    tickers: list[str]
    dates: list[date]
    open_vcp: list[str]
    closing_bet_dates: list[date]
    run_id: str


def weekdays(end: date, count: int) -> list[date]:
    days: list[date] = []
    day = end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def _stocks(n: int) -> pd.DataFrame:
    rows: list[dict[str, Any]] = [
        {"ticker": "069500", "name": "KODEX 200", "market": "KOSPI", "is_etf": True},
        {"ticker": "005930", "name": "삼성전자", "market": "KOSPI", "is_etf": False},
    ]
    for i in range(max(0, n - 2)):
        rows.append(
            {
                "ticker": f"{100000 + i * 7:06d}",
                "name": f"샘플{i:04d}",
                "market": "KOSPI" if i % 2 == 0 else "KOSDAQ",
                "is_etf": False,
            }
        )
    frame = pd.DataFrame(rows)
    frame["sector"] = None
    frame["listing_status"] = "LISTED"
    frame["source"] = SOURCE
    return frame


def _prices(tickers: list[str], days: list[date], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, d = len(tickers), len(days)
    steps = rng.normal(0.0004, 0.02, size=(n, d))
    steps[0] = 0.002 + rng.normal(0, 0.002, size=d)  # 069500: a steady uptrend
    start = rng.uniform(5_000, 200_000, size=(n, 1))
    close = np.round(start * np.exp(np.cumsum(steps, axis=1)))
    high = np.round(close * (1 + rng.uniform(0, 0.02, size=(n, d))))
    low = np.round(close * (1 - rng.uniform(0, 0.02, size=(n, d))))
    open_ = np.clip(np.round(close * (1 + rng.normal(0, 0.005, size=(n, d)))), low, high)
    volume = rng.integers(10_000, 3_000_000, size=(n, d))
    prev = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    frame = pd.DataFrame(
        {
            "ticker": np.repeat(tickers, d),
            "date": np.tile(np.array(days, dtype="datetime64[D]"), n),
            "open": open_.ravel().astype(np.int64),
            "high": high.ravel().astype(np.int64),
            "low": low.ravel().astype(np.int64),
            "close": close.ravel().astype(np.int64),
            "volume": volume.ravel().astype(np.int64),
            "trading_value": (close * volume).ravel().astype(np.int64),
            "change": (close - prev).ravel().astype(np.int64),
            "change_pct": np.round((close - prev) / prev * 100, 2).ravel(),
        }
    )
    frame["halted"] = False
    frame["source"] = SOURCE
    return frame


def _flows(tickers: list[str], days: list[date], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    recent = days[-20:]
    rows = []
    for investor in ("foreign", "institution"):
        values = rng.integers(-200_000, 250_000, size=(len(tickers), len(recent)))
        rows.append(
            pd.DataFrame(
                {
                    "ticker": np.repeat(tickers, len(recent)),
                    "date": np.tile(np.array(recent, dtype="datetime64[D]"), len(tickers)),
                    "investor": investor,
                    "net_volume": values.ravel().astype(np.int64),
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    frame["net_value"] = None
    frame["source"] = SOURCE
    return frame


def closing_bet_item(ticker: str, name: str, market: str, day: date, i: int) -> dict[str, Any]:
    """An item in Gen1's ``Signal.to_dict`` shape (§3.7)."""
    grade = ("S", "A", "B")[i % 3]
    entry = 10_000 + 1_000 * i
    scores = {"news": 2, "volume": 2, "chart": 1, "candle": 1, "consolidation": 0, "supply": 2}
    return {
        "id": None,
        "stock_code": ticker,
        "stock_name": name,
        "market": market,
        "signal_date": day.isoformat(),
        "grade": grade,
        "score": {**scores, "llm_reason": "sample reason", "total": sum(scores.values())},
        "checklist": {
            "mandatory": {"news": True, "volume": True},
            "optional": {"chart": True, "candle": True, "consolidation": False, "supply": True},
            "negative": {
                "negative_news": False,
                "upper_wick_long": False,
                "volume_suspicious": False,
            },
        },
        "entry_price": entry,
        "stop_price": int(entry * 0.97),
        "target_price": int(entry * 1.05),
        "quantity": 100,
        "position_size": entry * 100,
        "r_value": 125_000.0,
        "trading_value": 150_000_000_000,
        "change_pct": 7.5 if i % 4 else -1.0,
        "foreign_5d": 12_000,
        "inst_5d": -3_000,
        "status": "PENDING",
        "news_items": [
            {"title": "sample news", "source": "연합뉴스", "published_at": "", "url": "https://x"}
        ],
        "themes": [],
    }


def _uniform(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """executemany needs the same keys in every row: fill the missing ones with None."""
    keys = {k for row in rows for k in row}
    return [{k: row.get(k) for k in keys} for row in rows]


def seed(
    engine: Engine,
    *,
    tickers: int = 60,
    days: int = 260,
    end: date | None = None,
    seed_value: int = 20260101,
    vcp_open: int = 12,
    vcp_closed: int = 30,
) -> SeedSummary:
    end = end or datetime.now(UTC).date()
    day_list = weekdays(end, days)
    stocks = _stocks(tickers)
    codes = list(stocks["ticker"])
    names = dict(zip(stocks["ticker"], stocks["name"], strict=True))
    markets = dict(zip(stocks["ticker"], stocks["market"], strict=True))
    prices = _prices(codes, day_list, seed_value)
    last_close = prices.groupby("ticker")["close"].last().to_dict()
    run_id = f"sample-{seed_value}"
    with engine.begin() as conn:
        bulk_upsert(conn, "stocks", stocks, ["ticker"])
        bulk_upsert(conn, "daily_prices", prices, ["ticker", "date"])
        bulk_upsert(
            conn,
            "investor_flows",
            _flows(codes, day_list, seed_value),
            ["ticker", "date", "investor"],
        )
        now = datetime.now(UTC)
        conn.execute(
            insert(ScanRun),
            [
                {
                    "id": run_id,
                    "kind": "closing_bet",
                    "scan_date": day_list[-1],
                    "status": "SUCCEEDED",
                    "progress": 100.0,
                    "counts": {"total_candidates": 40, "processing_time_ms": 1234.5},
                    "params": {},
                    "source": SOURCE,
                    "scanjob": "krstock/sample",
                    "started_at": now,
                    "finished_at": now,
                }
            ],
        )
        # VCP legacy: open signals today, closed ones over the past weeks.
        pool = codes[2:]
        vcp_rows = []
        open_codes = pool[:vcp_open]
        for i, code in enumerate(open_codes):
            entry = float(last_close[code]) * (0.97 if i % 2 else 1.02)
            vcp_rows.append(
                {
                    "strategy": "vcp_legacy",
                    "ticker": code,
                    "signal_date": day_list[-1 - (i % 3)],
                    "status": "OPEN",
                    "score": 60.0 + i * 2.5,
                    "entry_price": round(entry),
                    "foreign_5d": 60_000 + i * 40_000,
                    "inst_5d": (-1) ** i * 8_000,
                    "flow_unit": "shares",
                    "contraction_ratio": round(0.35 + i * 0.04, 3),
                    "hold_days": i % 3,
                    "payload": {},
                    "score_breakdown": {},
                }
            )
        for i in range(vcp_closed):
            code = pool[(vcp_open + i) % len(pool)]
            signal_day = day_list[-30 - i]
            ret = round(((i * 37) % 17 - 7) * 0.9, 2)
            vcp_rows.append(
                {
                    "strategy": "vcp_legacy",
                    "ticker": code,
                    "signal_date": signal_day,
                    "status": "CLOSED",
                    "score": 61.0 + i,
                    "entry_price": 10_000.0,
                    "exit_price": 10_000.0 * (1 + ret / 100),
                    "exit_date": signal_day + timedelta(days=5),
                    "exit_reason": "STOP_LOSS" if ret <= -7 else "TIME_EXIT",
                    "return_pct": ret,
                    "hold_days": 5,
                    "foreign_5d": 70_000,
                    "inst_5d": 1_000,
                    "flow_unit": "shares",
                    "contraction_ratio": 0.5,
                    "payload": {},
                    "score_breakdown": {},
                }
            )
        cb_dates = [day_list[-3], day_list[-2], day_list[-1]]
        cb_rows = []
        for d_i, day in enumerate(cb_dates):
            for i, code in enumerate(pool[20 + d_i * 5 : 25 + d_i * 5]):
                item = closing_bet_item(code, names[code], markets[code], day, i)
                cb_rows.append(
                    {
                        "strategy": "closing_bet",
                        "ticker": code,
                        "signal_date": day,
                        "status": "PENDING",
                        "grade": item["grade"],
                        "score": float(item["score"]["total"]),
                        "score_breakdown": item["score"],
                        "entry_price": float(item["entry_price"]),
                        "stop_price": item["stop_price"],
                        "target_price": item["target_price"],
                        "quantity": item["quantity"],
                        "position_size": item["position_size"],
                        "foreign_5d": item["foreign_5d"],
                        "inst_5d": item["inst_5d"],
                        "flow_unit": "shares",
                        "run_id": run_id if day == cb_dates[-1] else None,
                        "payload": item,
                    }
                )
        conn.execute(insert(Signal), _uniform(vcp_rows + cb_rows))
        analyses = [
            {
                "ticker": code,
                "signal_date": day_list[-1 - (i % 3)],
                "analysis_source": "rules",
                "action": "BUY" if i % 2 == 0 else "HOLD",
                "confidence": 60.0 if i % 2 == 0 else 50.0,
                "reason": f"sample rule-based reason {i}",
                "model": None,
                "recommendations": {},
                "news": [],
                "fundamentals": {"per": "N/A", "pbr": "N/A"},
                "payload": {},
                "generated_at": now,
            }
            for i, code in enumerate(open_codes[:6])
        ]
        conn.execute(insert(AIAnalysis), analyses)
        conn.execute(
            insert(MarketGateSnapshot),
            [
                {
                    "date": day,
                    "policy_name": "monolith",
                    "status": status,
                    "score": score,
                    "label": label,
                    "reasons": ["RSI(55.0), MACD: bullish", "sample"],
                    "sectors": [
                        {"name": "반도체", "signal": "BULLISH", "change_pct": 1.23, "score": 80},
                        {"name": "은행", "signal": "neutral", "change_pct": -0.4, "score": 50},
                    ],
                    "metrics": {
                        "usd_krw": 1380.5,
                        "kospi": 2650.12,
                        "kospi_change_pct": 0.85,
                        "kosdaq": 870.4,
                        "kosdaq_change_pct": -0.31,
                        "rsi": 55.0,
                    },
                    "market_status": "RISK_ON",
                }
                for day, status, score, label in (
                    (day_list[-2], "YELLOW", 55, "NEUTRAL"),
                    (day_list[-1], "GREEN", 75, "BULLISH"),
                )
            ],
        )
    with engine.begin() as conn:
        closed = conn.execute(
            Signal.__table__.select().where(Signal.status == "CLOSED")  # type: ignore[attr-defined]
        ).all()
        conn.execute(
            insert(Trade),
            [
                {
                    "signal_id": s.id,
                    "strategy": s.strategy,
                    "ticker": s.ticker,
                    "entry_date": s.signal_date,
                    "entry_price": s.entry_price,
                    "exit_date": s.exit_date,
                    "exit_price": s.exit_price,
                    "gross_return_pct": s.return_pct,
                    "net_return_pct": round(s.return_pct - 0.36, 2),
                    "cost_pct": 0.36,
                    "exit_reason": s.exit_reason,
                    "hold_days": s.hold_days,
                }
                for s in closed
            ],
        )
    return SeedSummary(codes, day_list, open_codes, cb_dates, run_id)
