"""A second opinion for ``krstock bench vcp``: a re-implementation of a rigorous public VCP
screen's published rules, written separately from :mod:`krstock.domain.vcp` (its own
indicators, its own swing reading, plain per-ticker loops). It exists only to compare flag
rates and overlap on the same real data; no signal comes from it.

The rules (the public screen that checks a real contraction sequence):

1. **Trend template** (Minervini's eight): close above the 150- and 200-day averages; the
   150-day above the 200-day; the 200-day higher than 21 trading days ago; the 50-day above
   both; close above the 50-day; close at least 30 % above the 52-week low and within 25 % of
   the 52-week high; relative strength rank ≥ 70 — RS = 0.4 × 3-month + 0.2 × 6-, 9- and
   12-month returns, ranked as a percentile over the tickers scanned that day. Fewer than 200
   bars of history fail.
2. **Swings**: a zigzag over the last 120 trading days whose reversal is **2 × ATR(14)** at
   the bar where it happens (ATR: mean true range of the 14 bars before, so each part of the
   base is read at its own volatility). Halted bars (no volume, or a zero high/low) are left out.
3. **Contractions**: from the highest confirmed swing high of the 120 days, each swing high to
   the next swing low is a contraction; at least 2, the first at least 8 % deep, each next one
   at most 0.75 × the one before.
4. **Pivot**: the last contraction's swing high; the close is within −8 % … +3 % of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from krstock.benchmarks.vcp_real import RealMarket


class Bars(Protocol):
    """(tickers × days) daily bars: the real CSVs (``RealMarket``) or a synthetic window."""

    @property
    def tickers(self) -> npt.NDArray[Any]: ...
    @property
    def high(self) -> npt.NDArray[np.float64]: ...
    @property
    def low(self) -> npt.NDArray[np.float64]: ...
    @property
    def close(self) -> npt.NDArray[np.float64]: ...
    @property
    def volume(self) -> npt.NDArray[np.float64]: ...


LOOKBACK_DAYS = 120
ATR_DAYS = 14
ATR_REVERSAL = 2.0
MIN_CONTRACTIONS = 2
FIRST_MIN_DEPTH = 0.08
NEXT_MAX_RATIO = 0.75
PIVOT_BELOW = 0.08
PIVOT_ABOVE = 0.03
MIN_HISTORY = 200
RS_MIN_RANK = 70.0


@dataclass(frozen=True)
class Reading:
    """The reference's reading of one ticker on one day."""

    flagged: bool
    depths: tuple[float, ...]  # contraction depths, oldest first (fractions)
    pivot: float | None
    why: str  # the first rule that failed, or "setup"


def zigzag(
    high: npt.NDArray[np.float64], low: npt.NDArray[np.float64], atr: npt.NDArray[np.float64]
) -> list[tuple[str, int, float]]:
    """Confirmed swings ``("H"|"L", index, price)``, in order: a high is confirmed once price
    falls ``ATR_REVERSAL`` × ATR below it, a low once price rises as far above it."""
    swings: list[tuple[str, int, float]] = []
    looking_for = "H"
    extreme_i, extreme = 0, high[0]
    for i in range(1, high.size):
        reversal = ATR_REVERSAL * atr[i]
        if looking_for == "H":
            if high[i] > extreme:
                extreme_i, extreme = i, high[i]
            elif extreme - low[i] >= reversal:
                swings.append(("H", extreme_i, float(extreme)))
                looking_for, extreme_i, extreme = "L", i, low[i]
        else:
            if low[i] < extreme:
                extreme_i, extreme = i, low[i]
            elif high[i] - extreme >= reversal:
                swings.append(("L", extreme_i, float(extreme)))
                looking_for, extreme_i, extreme = "H", i, high[i]
    return swings


def contractions(swings: list[tuple[str, int, float]]) -> list[tuple[float, float]]:
    """(swing high, depth) of each high → next low, from the highest confirmed high on."""
    highs = [k for k, s in enumerate(swings) if s[0] == "H"]
    if not highs:
        return []
    start = max(highs, key=lambda k: swings[k][2])
    out: list[tuple[float, float]] = []
    for k in range(start, len(swings) - 1):
        kind, _, price = swings[k]
        if kind == "H" and swings[k + 1][0] == "L":
            out.append((price, (price - swings[k + 1][2]) / price))
    return out


def read_base(
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    atr: npt.NDArray[np.float64],
) -> Reading:
    """Rules 2–4 on one ticker's last ``LOOKBACK_DAYS`` traded bars (halted bars removed)."""
    found = contractions(zigzag(high, low, atr))
    depths = tuple(round(d, 4) for _, d in found)
    if len(found) < MIN_CONTRACTIONS:
        return Reading(False, depths, None, "fewer than 2 contractions")
    if found[0][1] < FIRST_MIN_DEPTH:
        return Reading(False, depths, None, "first contraction under 8 %")
    for (_, before), (_, after) in pairwise(found):
        if after > NEXT_MAX_RATIO * before:
            return Reading(False, depths, None, "a contraction over 0.75 × the one before")
    pivot = found[-1][0]
    distance = close[-1] / pivot - 1.0
    if not -PIVOT_BELOW <= distance <= PIVOT_ABOVE:
        return Reading(False, depths, pivot, "close not within -8 % … +3 % of the pivot")
    return Reading(True, depths, pivot, "setup")


@dataclass(frozen=True)
class Indicators:
    """Per (ticker, day) figures the trend template needs, NaN where history is short."""

    sma50: npt.NDArray[np.float64]
    sma150: npt.NDArray[np.float64]
    sma200: npt.NDArray[np.float64]
    low52: npt.NDArray[np.float64]
    high52: npt.NDArray[np.float64]
    rs: npt.NDArray[np.float64]
    atr: npt.NDArray[np.float64]
    bars: npt.NDArray[np.int64]  # traded bars so far


def indicators(market: Bars) -> Indicators:
    import numpy as np
    import pandas as pd

    traded = (market.volume > 0) & (market.high > 0) & (market.low > 0)
    close = pd.DataFrame(np.where(np.isfinite(market.close), market.close, np.nan)).T
    high = pd.DataFrame(np.where(traded, market.high, np.nan)).T
    low = pd.DataFrame(np.where(traded, market.low, np.nan)).T

    def sma(days: int) -> npt.NDArray[np.float64]:
        return close.rolling(days, min_periods=days).mean().T.to_numpy()

    previous = close.shift(1)
    true_range = (
        pd.concat([high - low, (high - previous).abs(), (low - previous).abs()], keys=[0, 1, 2])
        .groupby(level=1)
        .max()
    )
    # The ATR known at a bar: the 14 bars before it.
    atr = true_range.rolling(ATR_DAYS, min_periods=ATR_DAYS).mean().shift(1)
    weighted = (
        0.4 * (close / close.shift(63) - 1.0)
        + 0.2 * (close / close.shift(126) - 1.0)
        + 0.2 * (close / close.shift(189) - 1.0)
        + 0.2 * (close / close.shift(252) - 1.0)
    )
    return Indicators(
        sma50=sma(50),
        sma150=sma(150),
        sma200=sma(200),
        low52=low.rolling(252, min_periods=1).min().T.to_numpy(),
        high52=high.rolling(252, min_periods=1).max().T.to_numpy(),
        rs=weighted.T.to_numpy(),
        atr=atr.T.to_numpy(),
        bars=close.notna().cumsum().T.to_numpy(),
    )


def trend_template(ind: Indicators, close: npt.NDArray[np.float64], day: int) -> np.ndarray:
    """Rule 1 for every ticker on ``day`` (column index)."""
    import numpy as np
    import pandas as pd

    c = close[:, day]
    rs = ind.rs[:, day]
    rank = pd.Series(rs).rank(pct=True).to_numpy() * 100.0  # NaN RS stays unranked
    with np.errstate(invalid="ignore"):
        return (
            (ind.bars[:, day] >= MIN_HISTORY)
            & (c > ind.sma150[:, day])
            & (c > ind.sma200[:, day])
            & (ind.sma150[:, day] > ind.sma200[:, day])
            & (ind.sma200[:, day] > ind.sma200[:, day - 21])
            & (ind.sma50[:, day] > ind.sma150[:, day])
            & (ind.sma50[:, day] > ind.sma200[:, day])
            & (c > ind.sma50[:, day])
            & (c >= 1.30 * ind.low52[:, day])
            & (c >= 0.75 * ind.high52[:, day])
            & (rank >= RS_MIN_RANK)
        )


def screen_day(
    market: Bars, ind: Indicators, day: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Reading]]:
    """(trend-template passes, flags, the base reading of every passer) on ``day``."""
    import numpy as np

    passes = trend_template(ind, market.close, day)
    flags = np.zeros(passes.size, dtype=bool)
    readings: dict[str, Reading] = {}
    lo_day = max(0, day - LOOKBACK_DAYS + 1)
    for row in np.flatnonzero(passes):
        h = market.high[row, lo_day : day + 1]
        lo = market.low[row, lo_day : day + 1]
        c = market.close[row, lo_day : day + 1]
        atr = ind.atr[row, lo_day : day + 1]
        v = market.volume[row, lo_day : day + 1]
        kept = (v > 0) & (h > 0) & (lo > 0) & np.isfinite(atr)
        reading = read_base(h[kept], lo[kept], c[kept], atr[kept])
        readings[str(market.tickers[row])] = reading
        flags[row] = reading.flagged
    return passes, flags, readings


def reasons(readings: list[Reading]) -> dict[str, int]:
    """How many passer readings ended at each rule."""
    counts: dict[str, int] = {}
    for reading in readings:
        counts[reading.why] = counts.get(reading.why, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def screen_last_day(market: Bars) -> tuple[np.ndarray, np.ndarray, dict[str, Reading]]:
    """The reference on a window's last day (a synthetic window)."""
    return screen_day(market, indicators(market), market.close.shape[1] - 1)


def compare(market: RealMarket, days: list[int], ours: list[tuple[str, str]]) -> dict[str, Any]:
    """The reference on ``days`` beside our flags ``ours`` = [(ticker, date)]: per date both
    counts and the overlap, totals, the reference's forward returns against its passers, and
    why the passers it did not flag failed."""
    from krstock.benchmarks.vcp_real import edge, forward_returns

    ind = indicators(market)
    mine = set(ours)
    per_date: list[dict[str, Any]] = []
    hits: list[tuple[str, str]] = []
    flagged_returns: dict[int, list[float]] = {}
    passer_returns: dict[int, list[float]] = {}
    readings: list[Reading] = []
    for day in days:
        date = str(market.dates[day])
        passes, flags, day_readings = screen_day(market, ind, day)
        readings += day_readings.values()
        found = [(str(t), date) for t in market.tickers[flags]]
        hits += found
        per_date.append(
            {
                "date": date,
                "reference_trend_template": int(passes.sum()),
                "reference_flagged": len(found),
                "ours_flagged": sum(1 for _, d in mine if d == date),
                "both": len(mine & set(found)),
            }
        )
        for into, rows in ((flagged_returns, flags), (passer_returns, passes)):
            for horizon, values in forward_returns(market, day, rows).items():
                into.setdefault(horizon, []).extend(values)
    both = mine & set(hits)
    passes_total = sum(r["reference_trend_template"] for r in per_date)
    return {
        "dates": len(per_date),
        "reference_flags": len(hits),
        "reference_flags_per_date": round(len(hits) / max(len(per_date), 1), 2),
        "reference_share_of_passers": round(len(hits) / max(passes_total, 1), 4),
        "reference_tickers": sorted({t for t, _ in hits}),
        "ours_flags": len(mine),
        "ours_tickers": sorted({t for t, _ in mine}),
        "both": sorted(f"{d} {t}" for t, d in both),
        "reference_forward_returns": edge(flagged_returns, passer_returns),
        "reference_passers_ended_at": reasons(readings),
        "per_date": per_date,
    }


def reference_selectivity(tickers: int, seed: int, random_seeds: tuple[int, ...]) -> dict:
    """The reference on the synthetic market's planted bases and on pure random walks: the
    same measures our detector is held to (recall ≥ 90 %, random walks < 1 %)."""
    from krstock.marketdata.sample import SampleMarket, random_walk_market

    market = SampleMarket(seed=seed, n_tickers=tickers)
    planted = market.planted
    vcp = planted[planted["kind"] == "vcp"]
    ever = set(vcp["ticker"])
    found = hits = unplanted = 0
    for day in sorted(set(vcp["date"])):
        window = market.to_window(day, 300)
        _, flags, _ = screen_last_day(window)
        flagged = set(window.tickers[flags].tolist())
        hits += len(flagged)
        unplanted += len(flagged - ever)
        found += sum(bool(flags[window.index_of(t)]) for t in vcp[vcp["date"] == day]["ticker"])
    walks = []
    for random_seed in random_seeds:
        passes, flags, _ = screen_last_day(random_walk_market(random_seed, tickers, 260))
        walks.append(
            {"seed": random_seed, "trend_template": int(passes.sum()), "flagged": int(flags.sum())}
        )
    return {
        "data": "synthetic (krstock.marketdata.sample)",
        "planted": len(vcp),
        "found": found,
        "hits": hits,
        "unplanted_hits": unplanted,
        "random_walks": walks,
        "random_walk_rate": round(sum(w["flagged"] for w in walks) / (tickers * len(walks)), 5),
    }
