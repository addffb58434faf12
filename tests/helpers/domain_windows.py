"""Small MarketWindow / SeriesWindow builders for the domain-B tests (policy, closing bet, gate,
tracking, backtest). Written here, not copied from shared data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from krstock.domain.market import MarketWindow, SeriesWindow


def business_days(start: str, n: int) -> np.ndarray:
    days = np.busday_offset(np.datetime64(start, "D"), np.arange(n), roll="forward")
    return days.astype("datetime64[D]")


def make_window(
    close: np.ndarray,
    *,
    open_: np.ndarray | None = None,
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
    volume: np.ndarray | None = None,
    trading_value: np.ndarray | None = None,
    halted: np.ndarray | None = None,
    foreign: np.ndarray | None = None,
    inst: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    markets: Sequence[str] | None = None,
    tickers: Sequence[str] | None = None,
    start: str = "2025-01-02",
) -> MarketWindow:
    close = np.asarray(close, dtype=float)
    n, d = close.shape
    open_ = close.copy() if open_ is None else np.asarray(open_, dtype=float)
    high = np.maximum(open_, close) if high is None else np.asarray(high, dtype=float)
    low = np.minimum(open_, close) if low is None else np.asarray(low, dtype=float)
    volume = np.full((n, d), 1_000_000.0) if volume is None else np.asarray(volume, float)
    tv = close * volume if trading_value is None else np.asarray(trading_value, float)
    zeros = np.zeros((n, d))
    return MarketWindow(
        tickers=np.array(tickers or [f"{i:06d}" for i in range(1, n + 1)]),
        dates=business_days(start, d),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        trading_value=tv,
        halted=np.zeros((n, d), bool) if halted is None else np.asarray(halted, bool),
        foreign_net_shares=zeros.copy() if foreign is None else np.asarray(foreign, float),
        inst_net_shares=zeros.copy() if inst is None else np.asarray(inst, float),
        foreign_net_krw=zeros.copy(),
        inst_net_krw=zeros.copy(),
        names=np.array(list(names or [f"종목{i}" for i in range(n)]), dtype=object),
        markets=np.array(list(markets or ["KOSPI"] * n), dtype=object),
    )


def make_series(
    code: str,
    close: Sequence[float],
    volume: Sequence[float] | None = None,
    start: str = "2025-01-02",
) -> SeriesWindow:
    c = np.asarray(close, dtype=float)
    v = None if volume is None else np.asarray(volume, dtype=float)
    return SeriesWindow(code=code, dates=business_days(start, len(c)), close=c, volume=v)
