"""Technical indicators over (tickers × days) float arrays, NaN-aware and vectorized.

Conventions shared by every function here:

- Input is 2-D ``(tickers, days)`` with days ascending (a 1-D array is taken as one ticker and the
  result has the input's shape). NaN (or ±inf) marks a missing row: not listed yet, or a gap.
- A rolling result is NaN wherever its window is incomplete: fewer days than the window, or a
  missing value inside it. Nothing raises on short or gappy histories.
- Recursive indicators (EMA, Wilder) skip a missing day (NaN out, state carried over) and stay NaN
  until ``min_periods`` valid values have been seen.
- Loops run over days (the recursion), never over tickers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

TRADING_DAYS_52W = 250


def _as_2d(values: npt.ArrayLike) -> tuple[FloatArray, bool]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        return arr.reshape(1, -1), True
    if arr.ndim != 2:
        raise ValueError(f"expected a (tickers, days) array, got {arr.ndim} dimensions")
    return arr, False


def _restore(result: np.ndarray, was_1d: bool) -> np.ndarray:
    return result[0] if was_1d else result


def _check_window(window: int, name: str = "window") -> None:
    if int(window) != window or window < 1:
        raise ValueError(f"{name} must be a positive integer, got {window!r}")


def _trailing_nan_count(valid: BoolArray, window: int) -> IntArray:
    """Missing values inside each complete trailing window; shape (tickers, days - window + 1)."""
    missing = np.cumsum(~valid, axis=1, dtype=np.int64)
    missing = np.concatenate([np.zeros((valid.shape[0], 1), dtype=np.int64), missing], axis=1)
    return missing[:, window:] - missing[:, :-window]


def rolling_sum(values: npt.ArrayLike, window: int) -> FloatArray:
    """Sum of the last ``window`` days; NaN where the window is incomplete."""
    _check_window(window)
    arr, was_1d = _as_2d(values)
    out = np.full(arr.shape, np.nan)
    if window <= arr.shape[1]:
        valid = np.isfinite(arr)
        # Centre each row first so the cumulative sums stay small (less cancellation error).
        centre = _row_centre(arr, valid)
        cums = np.cumsum(np.where(valid, arr - centre, 0.0), axis=1)
        cums = np.concatenate([np.zeros((arr.shape[0], 1)), cums], axis=1)
        sums = cums[:, window:] - cums[:, :-window] + centre * window
        incomplete = _trailing_nan_count(valid, window) > 0
        out[:, window - 1 :] = np.where(incomplete, np.nan, sums)
    return _restore(out, was_1d)


def _row_centre(arr: FloatArray, valid: BoolArray) -> FloatArray:
    counts = valid.sum(axis=1, keepdims=True)
    totals = np.where(valid, arr, 0.0).sum(axis=1, keepdims=True)
    return np.divide(totals, counts, out=np.zeros_like(totals), where=counts > 0)


def sma(values: npt.ArrayLike, window: int) -> FloatArray:
    """Simple moving average of the last ``window`` days."""
    return rolling_sum(values, window) / window


def rolling_std(values: npt.ArrayLike, window: int, ddof: int = 1) -> FloatArray:
    """Rolling standard deviation (``ddof=1`` like pandas ``rolling().std()``)."""
    _check_window(window)
    if window - ddof < 1:
        raise ValueError("window must exceed ddof")
    arr, was_1d = _as_2d(values)
    valid = np.isfinite(arr)
    centred = arr - _row_centre(arr, valid)
    sums = rolling_sum(centred, window)
    squares = rolling_sum(centred * centred, window)
    variance = (squares - sums * sums / window) / (window - ddof)
    return _restore(np.sqrt(np.maximum(variance, 0.0)), was_1d)


def _rolling_extreme(
    values: npt.ArrayLike,
    window: int,
    op: Callable[..., FloatArray],
    fill: float,
) -> FloatArray:
    """van Herk/Gil-Werman: block prefix and suffix extremes, O(days) for any window."""
    _check_window(window)
    arr, was_1d = _as_2d(values)
    tickers, days = arr.shape
    out = np.full(arr.shape, np.nan)
    if window <= days:
        valid = np.isfinite(arr)
        filled = np.where(valid, arr, fill)
        padded_days = -(-days // window) * window
        padded = np.full((tickers, padded_days), fill)
        padded[:, :days] = filled
        blocks = padded.reshape(tickers, padded_days // window, window)
        prefix = op.accumulate(blocks, axis=2).reshape(tickers, padded_days)  # type: ignore[attr-defined]
        suffix = op.accumulate(blocks[:, :, ::-1], axis=2)[:, :, ::-1]  # type: ignore[attr-defined]
        suffix = suffix.reshape(tickers, padded_days)
        extremes = op(suffix[:, : days - window + 1], prefix[:, window - 1 : days])
        incomplete = _trailing_nan_count(valid, window) > 0
        out[:, window - 1 :] = np.where(incomplete, np.nan, extremes)
    return _restore(out, was_1d)


def rolling_max(values: npt.ArrayLike, window: int) -> FloatArray:
    """Highest value of the last ``window`` days."""
    return _rolling_extreme(values, window, np.maximum, -np.inf)


def rolling_min(values: npt.ArrayLike, window: int) -> FloatArray:
    """Lowest value of the last ``window`` days."""
    return _rolling_extreme(values, window, np.minimum, np.inf)


def high_52w(high: npt.ArrayLike) -> FloatArray:
    """52-week high: the highest high of the last 250 trading days."""
    return rolling_max(high, TRADING_DAYS_52W)


def low_52w(low: npt.ArrayLike) -> FloatArray:
    """52-week low: the lowest low of the last 250 trading days."""
    return rolling_min(low, TRADING_DAYS_52W)


def shift(values: npt.ArrayLike, periods: int) -> FloatArray:
    """Values ``periods`` days earlier (NaN where there is none)."""
    arr, was_1d = _as_2d(values)
    out = np.full(arr.shape, np.nan)
    if periods == 0:
        out[:] = arr
    elif 0 < periods < arr.shape[1]:
        out[:, periods:] = arr[:, :-periods]
    elif 0 < -periods < arr.shape[1]:
        out[:, :periods] = arr[:, -periods:]
    return _restore(out, was_1d)


def pct_change(values: npt.ArrayLike, periods: int) -> FloatArray:
    """Return over ``periods`` days as a fraction (``x[t] / x[t - periods] - 1``)."""
    _check_window(periods, "periods")
    arr, was_1d = _as_2d(values)
    before = shift(arr, periods)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(before > 0, arr / before - 1.0, np.nan)
    return _restore(out, was_1d)


def ema(
    values: npt.ArrayLike,
    span: int,
    min_periods: int | None = None,
) -> FloatArray:
    """Exponential moving average, ``alpha = 2 / (span + 1)``, seeded with the first value
    (pandas ``ewm(span, adjust=False)``); NaN until ``min_periods`` (default ``span``) values."""
    _check_window(span, "span")
    arr, was_1d = _as_2d(values)
    needed = span if min_periods is None else min_periods
    alpha = 2.0 / (span + 1.0)
    out = np.full(arr.shape, np.nan)
    state = np.full(arr.shape[0], np.nan)
    seen = np.zeros(arr.shape[0], dtype=np.int64)
    for day in range(arr.shape[1]):
        today = arr[:, day]
        ok = np.isfinite(today)
        stepped = np.where(np.isnan(state), today, alpha * today + (1.0 - alpha) * state)
        state = np.where(ok, stepped, state)
        seen += ok
        out[:, day] = np.where(ok & (seen >= needed), state, np.nan)
    return _restore(out, was_1d)


def _wilder(values: FloatArray, period: int) -> FloatArray:
    """Wilder smoothing: the first average is the mean of ``period`` values, then
    ``avg = (avg * (period - 1) + x) / period``; a missing day is skipped."""
    out = np.full(values.shape, np.nan)
    total = np.zeros(values.shape[0])
    state = np.full(values.shape[0], np.nan)
    seen = np.zeros(values.shape[0], dtype=np.int64)
    for day in range(values.shape[1]):
        today = values[:, day]
        ok = np.isfinite(today)
        seen += ok
        total = np.where(ok & (seen <= period), total + np.where(ok, today, 0.0), total)
        seeded = ok & (seen == period)
        state = np.where(seeded, total / period, state)
        rolling = ok & (seen > period)
        state = np.where(rolling, (state * (period - 1) + today) / period, state)
        out[:, day] = np.where(ok & (seen >= period), state, np.nan)
    return out


def _gains_losses(close: FloatArray) -> tuple[FloatArray, FloatArray]:
    change = np.full(close.shape, np.nan)
    change[:, 1:] = np.diff(close, axis=1)
    gains = np.where(np.isnan(change), np.nan, np.maximum(change, 0.0))
    losses = np.where(np.isnan(change), np.nan, np.maximum(-change, 0.0))
    return gains, losses


def _rsi_from_averages(avg_gain: FloatArray, avg_loss: FloatArray) -> FloatArray:
    # 100 - 100 / (1 + g/l) == 100 g / (g + l); no losses gives 100, a flat window gives 50.
    # Averages of non-negative values: clear the rounding residue of the rolling sums.
    avg_gain = np.where(avg_gain < 1e-12 * (1.0 + np.abs(avg_loss)), 0.0, avg_gain)
    avg_loss = np.where(avg_loss < 1e-12 * (1.0 + np.abs(avg_gain)), 0.0, avg_loss)
    total = avg_gain + avg_loss
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = np.clip(np.where(total > 0, 100.0 * avg_gain / total, 50.0), 0.0, 100.0)
    return np.where(np.isnan(total), np.nan, rsi)


def rsi_simple(close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """RSI as the monolith computes it: simple rolling means of gains and losses."""
    _check_window(period, "period")
    arr, was_1d = _as_2d(close)
    gains, losses = _gains_losses(arr)
    return _restore(_rsi_from_averages(sma(gains, period), sma(losses, period)), was_1d)


def rsi_wilder(close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """RSI with Wilder's smoothing of gains and losses."""
    _check_window(period, "period")
    arr, was_1d = _as_2d(close)
    gains, losses = _gains_losses(arr)
    return _restore(_rsi_from_averages(_wilder(gains, period), _wilder(losses, period)), was_1d)


def macd(
    close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line (EMA fast − EMA slow), its signal EMA and the histogram (line − signal)."""
    if fast >= slow:
        raise ValueError("fast span must be shorter than slow span")
    arr, was_1d = _as_2d(close)
    line = ema(arr, fast, min_periods=slow) - ema(arr, slow)
    signal_line = ema(line, signal)
    hist = line - signal_line
    return (
        _restore(line, was_1d),
        _restore(signal_line, was_1d),
        _restore(hist, was_1d),
    )


def true_range(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
    """max(high − low, |high − previous close|, |low − previous close|); high − low on day one."""
    h, was_1d = _as_2d(high)
    lo, _ = _as_2d(low)
    c, _ = _as_2d(close)
    previous = shift(c, 1)
    spread = h - lo
    gap_up = np.abs(h - previous)
    gap_down = np.abs(lo - previous)
    with_gaps = np.maximum(spread, np.maximum(gap_up, gap_down))
    return _restore(np.where(np.isfinite(previous), with_gaps, spread), was_1d)


def atr(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    period: int = 14,
    method: Literal["wilder", "simple"] = "wilder",
) -> FloatArray:
    """Average true range (Wilder smoothing by default, or a simple mean)."""
    _check_window(period, "period")
    ranges, was_1d = _as_2d(true_range(high, low, close))
    if method == "wilder":
        out = _wilder(ranges, period)
    elif method == "simple":
        out = sma(ranges, period)
    else:
        raise ValueError(f"unknown ATR method {method!r}")
    return _restore(out, was_1d)


def bollinger(
    close: npt.ArrayLike, window: int = 20, k: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Bollinger bands: (mid, upper, lower, width) with width = (upper − lower) / mid."""
    mid = sma(close, window)
    spread = k * rolling_std(close, window, ddof=1)
    upper = mid + spread
    lower = mid - spread
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.where(mid != 0, (upper - lower) / mid, np.nan)
    return mid, upper, lower, width


def fill_halted_bars(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """KRX reports a halted day with high/low 0 and the close carried over: make it a flat bar
    at that close, so a halt is not a 100 % drop (missing rows stay NaN)."""
    h, _ = _as_2d(high)
    lo, _ = _as_2d(low)
    c, _ = _as_2d(close)
    return np.where(h <= 0, c, h), np.where(lo <= 0, c, lo)


def align_valid_right(values: npt.ArrayLike, valid: npt.ArrayLike) -> FloatArray:
    """Each row's valid values packed to the right in their order, NaN to the left: the last
    column is the last valid row, so ``[:, -n:]`` are each ticker's last n rows."""
    arr, was_1d = _as_2d(values)
    mask = np.asarray(valid, dtype=bool).reshape(arr.shape)
    order = np.argsort(mask, axis=1, kind="stable")
    packed = np.take_along_axis(arr, order, axis=1)
    packed[~np.take_along_axis(mask, order, axis=1)] = np.nan
    return _restore(packed, was_1d)


def streak(values: npt.ArrayLike, skip_missing: bool = False) -> IntArray:
    """Consecutive days with value > 0, counted back from the last day.

    A missing day ends the streak unless ``skip_missing`` (then it is not a row at all, as in a
    source table that lacks the day)."""
    arr, was_1d = _as_2d(values)
    if skip_missing:
        arr = align_valid_right(arr, np.isfinite(arr))
    positive = np.nan_to_num(arr, nan=0.0) > 0
    ended = ~positive[:, ::-1]
    first_break = np.argmax(ended, axis=1)
    counts = np.where(ended.any(axis=1), first_break, arr.shape[1]).astype(np.int64)
    return counts[0] if was_1d else counts  # type: ignore[return-value]
