"""The grading oracle of the synthetic market: what an engine should answer for a planted pattern.

``krstock.marketdata.sample`` publishes only the design of each plant (pattern, contraction
lengths, base start, target grade, news count …). This module measures the expected answers
(pivot, depths, moving averages, expected grades, supply-demand index …) from the market's public
data, with its own re-implementation of the monolith's rules, so the engines are checked against
something they do not share code with.

    from helpers.sample_oracle import expected
    answer = expected(market, record)  # e.g. answer["expected_grade"], answer["pivot"]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from krstock.domain.market import MarketWindow
from krstock.marketdata.sample import PlantedRecord, SampleMarket

# Trading days of history the measurements look back over (a 52-week high needs 251).
WINDOW_DAYS = 260


def expected(market: SampleMarket, record: PlantedRecord) -> dict[str, Any]:
    """The expected answers for ``record``, measured on the ``WINDOW_DAYS`` up to its date."""
    window = market.to_window(record.date, WINDOW_DAYS)
    return _MEASURES[record.kind](_Planted.of(window, record))


# The window arrays a measurement reads, one row each.
_ARRAYS = (
    "open", "high", "low", "close", "volume", "trading_value",
    "foreign_net_shares", "inst_net_shares", "foreign_net_krw", "inst_net_krw",
)  # fmt: skip


@dataclass(frozen=True)
class _Planted:
    """One planted ticker's rows of the window, ending on the planted day (index ``d``)."""

    facts: dict[str, Any]
    dates: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    trading_value: np.ndarray
    foreign_net_shares: np.ndarray
    inst_net_shares: np.ndarray
    foreign_net_krw: np.ndarray
    inst_net_krw: np.ndarray

    @classmethod
    def of(cls, window: MarketWindow, record: PlantedRecord) -> _Planted:
        row = window.index_of(record.ticker)
        rows = {name: getattr(window, name)[row] for name in _ARRAYS}
        return cls(facts=record.details, dates=window.dates.astype("datetime64[D]"), **rows)

    @property
    def d(self) -> int:
        return self.dates.size - 1

    def day_index(self, day: str) -> int:
        return int(np.searchsorted(self.dates, np.datetime64(date.fromisoformat(day), "D")))

    def sum_last(self, flow: np.ndarray, n: int) -> int:
        """The last ``n`` days' total of a flow (shares or KRW), as an int."""
        return int(flow[self.d - n + 1 : self.d + 1].sum())


# --------------------------------------------------------------------------- vcp


def _contraction_bounds(base_start: int, lengths: list[int]) -> list[tuple[int, int]]:
    """(first, stop) day indices of each contraction, from its peak to the next one's peak;
    the last one also holds the base's final day."""
    peaks = [base_start + sum(lengths[:c]) for c in range(len(lengths))]
    base_end = base_start + sum(lengths)
    return [*itertools.pairwise(peaks), (peaks[-1], base_end + 1)]


def _expected_vcp(p: _Planted) -> dict[str, Any]:
    close, high, low, volume, d = p.close, p.high, p.low, p.volume, p.d
    start = p.day_index(p.facts["base_start"])
    bounds = _contraction_bounds(start, p.facts["contraction_lengths"])
    depths = []
    for lo, hi in bounds:
        peak = lo + int(np.argmax(high[lo:hi]))
        depths.append(round(float(1 - low[peak:hi].min() / high[peak]), 4))
    last_lo, last_hi = bounds[-1]
    avg50 = float(volume[d - 50 : d].mean())
    ma = {n: float(close[d - n + 1 : d + 1].mean()) for n in (50, 150, 200)}
    return {
        "pattern": p.facts["pattern"],
        "pivot": float(high[last_lo:last_hi].max()),
        "close": float(close[d]),
        "contractions": len(depths),
        "depths": depths,
        "contraction_days": [hi - lo for lo, hi in bounds],
        "base_start": p.facts["base_start"],
        "base_days": d - start + 1,
        "last_contraction_volume_ratio": round(float(volume[last_lo:last_hi].mean()) / avg50, 3),
        "volume_ratio": round(float(volume[d]) / avg50, 3),
        "ma50": round(ma[50], 1),
        "ma150": round(ma[150], 1),
        "ma200": round(ma[200], 1),
        "high_52w": float(high[d - 249 : d + 1].max()),
        "low_52w": float(low[d - 249 : d + 1].min()),
        "return_12m_pct": round(float(close[d] / close[d - 250] - 1) * 100, 2),
        "foreign_5d": p.sum_last(p.foreign_net_shares, 5),
        "inst_5d": p.sum_last(p.inst_net_shares, 5),
    }


# --------------------------------------------------------------------------- closing bet


def closing_bet_grade(
    score: int, trading_value: float, change_pct: float, news: int, volume_score: int
) -> str:
    """monolith.md §4.2 determine_grade: the mandatory gate, then S, A, B, else C."""
    if news < 1 or volume_score < 1:
        return "C"
    if score >= 10 and trading_value >= 1e12 and 10 <= change_pct <= 20:
        return "S"
    if score >= 8 and trading_value >= 5e11 and 8 <= change_pct <= 15:
        return "A"
    if score >= 6 and trading_value >= 1e11:
        return "B"
    return "C"


def _candle_score(o: float, h: float, lo: float, c: float) -> tuple[int, float, float]:
    """A bullish candle (long body, short upper wick): (score, body ratio, upper-wick ratio)."""
    body = c - o
    body_ratio = body / (h - lo) if h > lo else 0.0
    wick_ratio = (h - c) / body if body > 0 else float("inf")
    long_body = (body_ratio >= 0.6 and wick_ratio <= 0.3) or (
        body_ratio >= 0.5 and wick_ratio <= 0.5
    )
    return int(c > o and long_body), body_ratio, wick_ratio


def _consolidation_score(p: _Planted, c: float) -> int:
    """A tight 20-day (or tightening 5-day) range broken by the close."""
    high, low, d = p.high, p.low, p.d
    h20, l20 = float(high[d - 19 : d + 1].max()), float(low[d - 19 : d + 1].min())
    h5, l5 = float(high[d - 4 : d + 1].max()), float(low[d - 4 : d + 1].min())
    range20, range5 = (h20 - l20) / l20, (h5 - l5) / l5
    return int((range20 <= 0.15 or range5 < 0.5 * range20) and c > h20)


def _expected_closing_bet(p: _Planted) -> dict[str, Any]:
    d, close, high = p.d, p.close, p.high
    o, h, lo, c = (float(x[d]) for x in (p.open, high, p.low, close))
    prev = float(close[d - 1])  # the planted ticker trades every day: yesterday's close
    tv = float(p.trading_value[d])
    change_pct = round((c - prev) / prev * 100, 2)
    volume_score = 3 if tv >= 1e12 else 2 if tv >= 5e11 else 1 if tv >= 1e11 else 0
    high_52w = float(high[d - 249 : d + 1].max())
    ma5, ma10, ma20 = (float(close[d - n + 1 : d + 1].mean()) for n in (5, 10, 20))
    new_high = c >= 0.95 * high_52w
    breakout = c > float(high[d - 250 : d].max()) or c > float(high[d - 60 : d].max())
    ma_aligned = c > ma5 > ma10 > ma20
    chart = int(new_high or breakout) + int(ma_aligned)
    candle, body_ratio, wick_ratio = _candle_score(o, h, lo, c)
    consolidation = _consolidation_score(p, c)
    f5, i5 = p.sum_last(p.foreign_net_shares, 5), p.sum_last(p.inst_net_shares, 5)
    supply = 2 if f5 > 0 and i5 > 0 else 1 if f5 > 0 or i5 > 0 else 0
    base = volume_score + chart + candle + consolidation + supply
    return {
        "target_grade": p.facts["target_grade"],
        # Without an LLM the keyword path scores news 1; an LLM may give it 3.
        "expected_grade": closing_bet_grade(base + 1, tv, change_pct, 1, volume_score),
        "expected_grade_llm_max": closing_bet_grade(base + 3, tv, change_pct, 3, volume_score),
        "change_pct": change_pct,
        "trading_value": int(tv),
        "close": c,
        "open": o,
        "high": h,
        "low": lo,
        "components": {
            "news_keyword": 1,
            "volume": volume_score,
            "chart": chart,
            "candle": candle,
            "consolidation": consolidation,
            "supply": supply,
        },
        "score_without_news": base,
        "news_count": p.facts["news_count"],
        "body_ratio": round(body_ratio, 3),
        "upper_wick_ratio": round(wick_ratio, 3),
        "new_high": bool(new_high),
        "ma_aligned": bool(ma_aligned),
        "high_52w": high_52w,
        "volume_ratio_20d": round(float(p.volume[d]) / float(p.volume[d - 20 : d].mean()), 2),
        "foreign_5d": f5,
        "inst_5d": i5,
        "foreign_5d_krw": p.sum_last(p.foreign_net_krw, 5),
        "inst_5d_krw": p.sum_last(p.inst_net_krw, 5),
    }


# --------------------------------------------------------------------------- legacy vcp


def supply_demand_index(
    foreign60: float, foreign20: float, inst60: float, inst20: float, volume20: float
) -> float:
    """monolith.md §4.1 supply-demand index (shares), before the file's percentile clipping."""

    def investor(net60: float, net20: float, scale: float) -> float:
        ratio20 = net20 / volume20 * 100 if volume20 > 0 else 0.0
        base = min(max(net60 / scale * 25 + 25, 0), 35)
        recent = min(max(net20 / (net60 + 1) * 10, 0), 10)
        ratio = min(max(ratio20 / 10 * 2.5 + 2.5, 0), 5)
        return base + recent + ratio

    score = investor(inst60, inst20, 6_000_000) + investor(foreign60, foreign20, 10_000_000)
    return min(max(score * (0.8 + 0.2 * min(volume20 / 10_000_000, 1)), 0), 100)


def _expected_legacy(p: _Planted) -> dict[str, Any]:
    d, volume = p.d, p.volume
    hi20, lo20, close20 = (x[d - 19 : d + 1] for x in (p.high, p.low, p.close))
    first_range = float(hi20[:10].max() - lo20[:10].min())
    last_range = float(hi20[10:].max() - lo20[10:].min())
    sums = {
        f"{name}_{n}d": p.sum_last(flow, n)
        for name, flow in (("foreign", p.foreign_net_shares), ("inst", p.inst_net_shares))
        for n in (5, 20, 60)
    }
    volume20 = float(volume[d - 19 : d + 1].sum())
    sdi = supply_demand_index(
        sums["foreign_60d"], sums["foreign_20d"], sums["inst_60d"], sums["inst_20d"], volume20
    )
    return {
        **sums,
        "total_volume_20d": int(volume20),
        "supply_demand_index": round(sdi, 1),
        "contraction_ratio": round(last_range / first_range, 3),
        "near_high_ratio": round(float(close20[-1] / close20.max()), 4),
        "volume_ratio_10d": round(
            float(volume[d - 9 : d + 1].mean() / volume[d - 19 : d - 9].mean()), 3
        ),
        "close": float(p.close[d]),
    }


_MEASURES: dict[str, Callable[[_Planted], dict[str, Any]]] = {
    "vcp": _expected_vcp,
    "closing_bet": _expected_closing_bet,
    "legacy_vcp": _expected_legacy,
}
