"""The shapes the engines read: the whole universe as (tickers × days) arrays.

A ``MarketWindow`` is what ``krstock.db`` reads in one query and what every scanner takes.
Missing rows (not listed yet, gaps) are NaN; halted days are real rows with ``halted`` True,
volume 0 and the close carried over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MarketWindow:
    """Prices and investor flows for ``tickers`` over ``dates`` (ascending).

    Every 2-D array has shape ``(len(tickers), len(dates))``. Units: prices and values in KRW,
    volumes and ``*_shares`` in shares, ``*_krw`` in KRW. A flow is NaN where the source has no
    row (never 0, which would be a real "no net buying").
    """

    tickers: npt.NDArray[np.str_]
    dates: npt.NDArray[np.datetime64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    trading_value: FloatArray
    halted: BoolArray
    foreign_net_shares: FloatArray
    inst_net_shares: FloatArray
    foreign_net_krw: FloatArray
    inst_net_krw: FloatArray
    names: npt.NDArray[np.object_]
    markets: npt.NDArray[np.object_]
    # Per-ticker flags from the stock list (ETF, ETN, SPAC, REIT, preferred), keyed by flag name.
    flags: dict[str, BoolArray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.tickers), len(self.dates))

    def index_of(self, ticker: str) -> int:
        """Row of ``ticker``; raises KeyError when it is not in the window."""
        hits = np.flatnonzero(self.tickers == ticker)
        if hits.size == 0:
            raise KeyError(ticker)
        return int(hits[0])

    def up_to(self, day: object) -> MarketWindow:
        """The window cut at ``day`` inclusive: what a scan on ``day`` may see (no look-ahead)."""
        cut = np.array([day], dtype="datetime64[D]")
        stop = int(np.searchsorted(self.dates.astype("datetime64[D]"), cut, side="right")[0])
        return self.columns(slice(0, stop))

    def columns(self, days: slice) -> MarketWindow:
        """A view on a slice of days (same tickers)."""
        return MarketWindow(
            tickers=self.tickers,
            dates=self.dates[days],
            names=self.names,
            markets=self.markets,
            flags=self.flags,
            **{name: getattr(self, name)[:, days] for name in GRID_FIELDS},
        )

    def rows(self, mask: BoolArray) -> MarketWindow:
        """A subset of tickers (e.g. one market)."""
        return MarketWindow(
            tickers=self.tickers[mask],
            dates=self.dates,
            names=self.names[mask],
            markets=self.markets[mask],
            flags={k: v[mask] for k, v in self.flags.items()},
            **{name: getattr(self, name)[mask] for name in GRID_FIELDS},
        )


# The (tickers × days) fields of a MarketWindow, sliced together.
GRID_FIELDS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trading_value",
    "halted",
    "foreign_net_shares",
    "inst_net_shares",
    "foreign_net_krw",
    "inst_net_krw",
)


@dataclass(frozen=True)
class SeriesWindow:
    """One daily series (an index, a sector ETF, USD/KRW) as 1-D arrays over ascending dates."""

    code: str
    dates: npt.NDArray[np.datetime64]
    close: FloatArray
    high: FloatArray | None = None
    low: FloatArray | None = None
    volume: FloatArray | None = None
