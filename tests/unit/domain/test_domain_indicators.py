"""Indicators: exact small examples, pandas agreement, NaN handling and hypothesis properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from krstock.domain import indicators as ind

NAN = np.nan


def _walk(seed: int = 0, tickers: int = 4, days: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10_000 * np.exp(np.cumsum(rng.normal(0, 0.02, (tickers, days)), axis=1))


def _frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(values.T)


def _same(ours: np.ndarray, theirs: np.ndarray, tol: float = 1e-9) -> None:
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, equal_nan=True)


# ----------------------------------------------------------------- exact small examples


def test_sma_exact_and_incomplete_windows_are_nan() -> None:
    out = ind.sma(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]), 3)
    _same(out, np.array([[NAN, NAN, 2.0, 3.0, 4.0]]))


def test_sma_gap_poisons_only_windows_containing_it() -> None:
    out = ind.sma(np.array([1.0, 2.0, NAN, 4.0, 5.0, 6.0]), 2)
    _same(out, np.array([NAN, 1.5, NAN, NAN, 4.5, 5.5]))


def test_window_longer_than_history_is_all_nan_not_an_error() -> None:
    assert np.isnan(ind.sma(np.ones((3, 5)), 20)).all()
    assert np.isnan(ind.rolling_max(np.ones((3, 5)), 250)).all()
    assert np.isnan(ind.rsi_simple(np.ones((2, 5)))).all()
    assert np.isnan(ind.ema(np.ones(5), 12)).all()


def test_rolling_sum_max_min_exact() -> None:
    x = np.array([[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]])
    _same(ind.rolling_sum(x, 3), np.array([[NAN, NAN, 8, 6, 10, 15, 16]], dtype=float))
    _same(ind.rolling_max(x, 3), np.array([[NAN, NAN, 4, 4, 5, 9, 9]], dtype=float))
    _same(ind.rolling_min(x, 3), np.array([[NAN, NAN, 1, 1, 1, 1, 2]], dtype=float))


def test_52_week_window_is_250_days() -> None:
    high = np.arange(1.0, 301.0)
    out = ind.high_52w(high)
    assert np.isnan(out[248]) and out[249] == 250.0 and out[-1] == 300.0
    low = ind.low_52w(high)
    assert low[249] == 1.0 and low[-1] == 51.0


def test_ema_matches_hand_computation() -> None:
    # span 3 → alpha 0.5: seeded with the first value.
    out = ind.ema(np.array([2.0, 4.0, 8.0, 0.0]), 3, min_periods=1)
    _same(out, np.array([2.0, 3.0, 5.5, 2.75]))
    assert np.isnan(ind.ema(np.array([2.0, 4.0, 8.0]), 3)[:2]).all()


def test_ema_skips_a_gap_and_carries_state() -> None:
    out = ind.ema(np.array([2.0, NAN, 4.0]), 3, min_periods=1)
    _same(out, np.array([2.0, NAN, 3.0]))


def test_rsi_simple_exact() -> None:
    # Gains 1,1,1 and a loss of 3 over a period of 4: avg gain 0.75, avg loss 0.75 → 50.
    close = np.array([10.0, 11.0, 12.0, 13.0, 10.0])
    assert ind.rsi_simple(close, 4)[-1] == pytest.approx(50.0)
    rising = np.arange(1.0, 30.0)
    assert ind.rsi_simple(rising)[-1] == 100.0
    assert ind.rsi_simple(rising[::-1])[-1] == 0.0
    assert ind.rsi_simple(np.full(20, 5.0))[-1] == 50.0


def test_rsi_wilder_seed_then_smoothing() -> None:
    close = np.array([10.0, 11.0, 10.0, 12.0, 11.0])  # +1 −1 +2 −1
    out = ind.rsi_wilder(close, 2)
    # seed after 2 changes: gain 0.5, loss 0.5 → 50; then gain (0.5+2)/2=1.25, loss 0.25 → 83.3;
    # then gain 0.625, loss (0.25+1)/2 = 0.625 → 50.
    _same(out, np.array([NAN, NAN, 50.0, 1.25 / 1.5 * 100, 50.0]))


def test_macd_line_signal_hist() -> None:
    close = _walk(3, 2, 120)
    line, signal, hist = ind.macd(close)
    frame = _frame(close)
    fast = frame.ewm(span=12, adjust=False).mean()
    slow = frame.ewm(span=26, adjust=False).mean()
    expected = (fast - slow).values.T
    assert np.isnan(line[:, :25]).all()
    np.testing.assert_allclose(line[:, 25:], expected[:, 25:], rtol=1e-9)
    np.testing.assert_allclose(hist, line - signal, equal_nan=True)
    assert np.isnan(signal[:, :33]).all() and np.isfinite(signal[:, 33:]).all()
    with pytest.raises(ValueError):
        ind.macd(close, fast=26, slow=12)


def test_true_range_and_atr() -> None:
    high = np.array([10.0, 12.0, 11.0])
    low = np.array([9.0, 10.5, 8.0])
    close = np.array([9.5, 11.0, 8.5])
    _same(ind.true_range(high, low, close), np.array([1.0, 2.5, 3.0]))
    _same(ind.atr(high, low, close, 2, method="simple"), np.array([NAN, 1.75, 2.75]))
    _same(ind.atr(high, low, close, 2), np.array([NAN, 1.75, (1.75 + 3.0) / 2]))
    with pytest.raises(ValueError):
        ind.atr(high, low, close, 2, method="ema")  # type: ignore[arg-type]


def test_bollinger_matches_pandas() -> None:
    close = _walk(4)
    mid, upper, lower, width = ind.bollinger(close)
    frame = _frame(close)
    std = frame.rolling(20).std().values.T
    _same(mid, frame.rolling(20).mean().values.T)
    _same(upper, mid + 2 * std, 1e-8)
    _same(lower, mid - 2 * std, 1e-8)
    _same(width, (upper - lower) / mid, 1e-8)


def test_streak_counts_back_from_the_last_day() -> None:
    x = np.array([[1.0, 2.0, -1.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0, 1.0], [5.0, 1.0, 1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(ind.streak(x), [2, 5, 0])
    gappy = np.array([NAN, 1.0, NAN, 1.0, 1.0])
    assert ind.streak(gappy) == 2
    assert ind.streak(gappy, skip_missing=True) == 3


def test_align_valid_right_packs_rows() -> None:
    values = np.array([[1.0, NAN, 3.0, NAN], [NAN, NAN, NAN, 7.0]])
    packed = ind.align_valid_right(values, np.isfinite(values))
    _same(packed, np.array([[NAN, NAN, 1.0, 3.0], [NAN, NAN, NAN, 7.0]]))


def test_pct_change_and_shift() -> None:
    x = np.array([100.0, 110.0, 121.0])
    _same(ind.pct_change(x, 1), np.array([NAN, 0.1, 0.1]), 1e-12)
    _same(ind.shift(x, -1), np.array([110.0, 121.0, NAN]))
    _same(ind.shift(x, 0), x)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        ind.sma(np.ones((2, 3)), 0)
    with pytest.raises(ValueError):
        ind.sma(np.ones((2, 3, 4)), 2)
    with pytest.raises(ValueError):
        ind.rolling_std(np.ones(5), 1, ddof=1)


# ----------------------------------------------------------------- agreement with pandas


def test_rolling_functions_match_pandas_with_late_listing() -> None:
    close = _walk(1)
    close[1, :40] = NAN  # listed late
    frame = _frame(close)
    _same(ind.sma(close, 20), frame.rolling(20).mean().values.T)
    _same(ind.rolling_sum(close, 60), frame.rolling(60).sum().values.T, 1e-8)
    _same(ind.rolling_max(close, 250), frame.rolling(250).max().values.T)
    _same(ind.rolling_min(close, 7), frame.rolling(7).min().values.T)
    _same(ind.rolling_std(close, 20), frame.rolling(20).std().values.T, 1e-8)
    change = frame.diff()
    gain = change.clip(lower=0).rolling(14).mean()
    loss = (-change.clip(upper=0)).rolling(14).mean()
    _same(ind.rsi_simple(close), (100 - 100 / (1 + gain / loss)).values.T, 1e-8)


def test_ema_matches_pandas_adjust_false() -> None:
    close = _walk(2)
    ours = ind.ema(close, 12, min_periods=1)
    _same(ours, _frame(close).ewm(span=12, adjust=False).mean().values.T)


# ----------------------------------------------------------------- properties

finite = st.floats(min_value=1.0, max_value=1e6, allow_nan=False, allow_infinity=False)
series = arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 40)), elements=finite)
gappy_series = arrays(
    np.float64,
    st.tuples(st.integers(1, 3), st.integers(1, 40)),
    elements=st.one_of(finite, st.just(NAN)),
)
windows = st.integers(1, 15)


@settings(max_examples=60, deadline=None)
@given(value=finite, shape=st.tuples(st.integers(1, 3), st.integers(1, 40)), window=windows)
def test_sma_and_ema_of_a_constant_are_the_constant(
    value: float, shape: tuple[int, int], window: int
) -> None:
    x = np.full(shape, value)
    for out in (ind.sma(x, window), ind.ema(x, window), ind.rolling_max(x, window)):
        assert np.allclose(out[np.isfinite(out)], value, rtol=1e-9)
    assert np.isfinite(ind.sma(x, window)).sum() == shape[0] * max(shape[1] - window + 1, 0)


@settings(max_examples=60, deadline=None)
@given(x=gappy_series, window=windows)
def test_rolling_max_bounds_its_window(x: np.ndarray, window: int) -> None:
    high, low = ind.rolling_max(x, window), ind.rolling_min(x, window)
    with np.errstate(invalid="ignore"):
        assert not (high < x).any() and not (low > x).any()
    assert not (high < low).any()
    # Defined exactly where the whole window is present.
    for t in range(x.shape[1]):
        complete = t >= window - 1 and np.isfinite(x[:, t - window + 1 : t + 1]).all(axis=1)
        np.testing.assert_array_equal(np.isfinite(high[:, t]), complete)


@settings(max_examples=60, deadline=None)
@given(x=gappy_series, period=st.integers(2, 14))
def test_rsi_stays_within_0_and_100(x: np.ndarray, period: int) -> None:
    for out in (ind.rsi_simple(x, period), ind.rsi_wilder(x, period)):
        values = out[np.isfinite(out)]
        assert ((values >= 0) & (values <= 100)).all()


@settings(max_examples=60, deadline=None)
@given(
    x=arrays(
        np.float64,
        st.tuples(st.integers(1, 3), st.integers(1, 30)),
        elements=st.one_of(st.floats(-5, 5, allow_nan=False), st.just(NAN)),
    )
)
def test_streak_is_bounded_by_length_and_ends_on_a_positive(x: np.ndarray) -> None:
    counts = ind.streak(x)
    assert ((counts >= 0) & (counts <= x.shape[1])).all()
    for row, n in zip(x, counts, strict=True):
        if n:
            assert (row[-n:] > 0).all()
        if n < x.shape[1]:
            assert not row[-n - 1] > 0


@settings(max_examples=40, deadline=None)
@given(x=series, window=st.integers(2, 15))
def test_bollinger_orders_bands(x: np.ndarray, window: int) -> None:
    mid, upper, lower, width = ind.bollinger(x, window)
    ok = np.isfinite(mid)
    assert (upper[ok] >= mid[ok] - 1e-6 * mid[ok]).all()
    assert (lower[ok] <= mid[ok] + 1e-6 * mid[ok]).all()
    assert (width[ok] >= -1e-9).all()


def test_fill_halted_bars_uses_the_carried_close() -> None:
    high = np.array([[10.0, 0.0, 12.0, NAN]])
    low = np.array([[9.0, 0.0, 11.0, NAN]])
    close = np.array([[9.5, 9.5, 11.5, NAN]])
    h, lo = ind.fill_halted_bars(high, low, close)
    _same(h, np.array([[10.0, 9.5, 12.0, NAN]]))
    _same(lo, np.array([[9.0, 9.5, 11.0, NAN]]))
