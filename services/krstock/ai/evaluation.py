"""``krstock eval ai``: how the stored analyses and news scores did, from our own prices.

Only signal dates after the model's knowledge cutoff count (earlier dates may be in its
training data). The next-day return is the close of the next stored trading day over the
signal day's close. Reported here: hit rate and mean next-day return by source and action (BUY
hits when the return is > 0, SELL when < 0, HOLD when within ±2%) and Spearman's rank
correlation of the closing-bet news component with the next-day return. The closing-bet
backtest with news from the model, the lexicon and "1 if any news" is
:mod:`krstock.app.news_backtest` (it replays the strategy, a layer above this one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Engine, text

HOLD_BAND_PCT = 2.0

_NEXT_RETURNS = """
SELECT s.ticker, s.signal_date, d0.close AS close0, d1.close AS close1
FROM (SELECT DISTINCT ticker, signal_date FROM {source} WHERE signal_date > :cutoff {extra}) s
JOIN daily_prices d0 ON d0.ticker = s.ticker AND d0.date = s.signal_date
JOIN LATERAL (
  SELECT close FROM daily_prices d
  WHERE d.ticker = s.ticker AND d.date > s.signal_date ORDER BY d.date LIMIT 1
) d1 ON TRUE
"""


def _returns(engine: Engine, source: str, cutoff: date, extra: str = "", **params: Any) -> dict:
    sql = text(_NEXT_RETURNS.format(source=source, extra=extra))
    with engine.connect() as conn:
        rows = conn.execute(sql, {"cutoff": cutoff, **params}).all()
    return {
        # Rounded: 51,000 over 50,000 is +2%, not 2.0000000000000018% (the HOLD band edge).
        (r.ticker, r.signal_date): round((float(r.close1) / float(r.close0) - 1) * 100, 6)
        for r in rows
        if r.close0
    }


def _hit(action: str, ret: float) -> bool:
    if action == "BUY":
        return ret > 0
    if action == "SELL":
        return ret < 0
    return abs(ret) <= HOLD_BAND_PCT


def _summary(values: Sequence[float], hits: Sequence[bool]) -> dict[str, Any]:
    n = len(values)
    return {
        "n": n,
        "hit_rate": round(sum(hits) / n, 4) if n else None,
        "mean_next_day_return_pct": round(sum(values) / n, 4) if n else None,
    }


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rho (average ranks for ties); None below three pairs or without spread."""
    if len(xs) < 3:
        return None
    import pandas as pd

    # Pearson's r of the average ranks (pandas' method="spearman" would need scipy).
    ranks_x = pd.Series(list(xs), dtype=float).rank(method="average")
    ranks_y = pd.Series(list(ys), dtype=float).rank(method="average")
    rho = ranks_x.corr(ranks_y)
    return None if rho != rho else round(float(rho), 4)  # NaN: a constant column


def by_action(engine: Engine, cutoff: date) -> list[dict[str, Any]]:
    returns = _returns(engine, "ai_analyses", cutoff)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ticker, signal_date, analysis_source, action FROM ai_analyses "
                "WHERE signal_date > :cutoff AND action IS NOT NULL"
            ),
            {"cutoff": cutoff},
        ).all()
    groups: dict[tuple[str, str], tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    for r in rows:
        ret = returns.get((r.ticker, r.signal_date))
        if ret is None:
            continue
        values, hits = groups[(r.analysis_source, r.action)]
        values.append(ret)
        hits.append(_hit(r.action, ret))
    return [
        {"source": source, "action": action, **_summary(*groups[(source, action)])}
        for source, action in sorted(groups)
    ]


def closing_bet(engine: Engine, cutoff: date, strategies: Sequence[str]) -> dict[str, Any]:
    extra = "AND strategy = ANY(:strategies)"
    returns = _returns(engine, "signals", cutoff, extra, strategies=list(strategies))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ticker, signal_date, (score_breakdown->>'news')::int AS news "
                "FROM signals WHERE signal_date > :cutoff AND strategy = ANY(:strategies) "
                "AND score_breakdown ? 'news'"
            ),
            {"cutoff": cutoff, "strategies": list(strategies)},
        ).all()
    scores: list[float] = []
    rets: list[float] = []
    for r in rows:
        ret = returns.get((r.ticker, r.signal_date))
        if ret is not None:
            scores.append(float(r.news))
            rets.append(ret)
    return {"news_score_vs_next_day": {"n": len(scores), "spearman": spearman(scores, rets)}}


def evaluate(engine: Engine, cutoff: date, closing_bet_strategies: Sequence[str]) -> dict:
    return {
        "after": cutoff.isoformat(),
        "by_action": by_action(engine, cutoff),
        "closing_bet": closing_bet(engine, cutoff, closing_bet_strategies),
        "note": "from stored analyses and prices after the model's knowledge cutoff",
    }
