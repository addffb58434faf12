"""trend-template: each criterion at its boundary, the RS percentile rank, short histories."""

from __future__ import annotations

import numpy as np
import pytest

from krstock.domain.trend_template import (
    CRITERIA,
    TrendTemplatePolicy,
    evaluate_trend_template,
    percentile_rank,
    relative_strength,
    trend_template_rows,
)

POLICY = TrendTemplatePolicy()
DAYS = 260


def uptrend(daily: float = 0.004, days: int = DAYS, start: float = 10_000.0) -> np.ndarray:
    return start * np.exp(daily * np.arange(days))


def universe() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row 0 a steady leader; rows 1–9 weaker trends (so row 0 has the best RS)."""
    close = np.stack([uptrend(0.004)] + [uptrend(0.004 - 0.0009 * k) for k in range(1, 10)])
    return close, close * 1.01, close * 0.99


def test_a_steady_leader_meets_every_criterion() -> None:
    close, high, low = universe()
    result = evaluate_trend_template(close, high, low, POLICY)
    assert result.passes[0] and result.criteria_met[0] == len(CRITERIA)
    assert result.rs_rank[0] == 100.0
    # The weakest rows are falling: they fail.
    assert not result.passes[-1]
    rows = trend_template_rows(result, [f"T{k}" for k in range(10)])
    assert rows[0]["ticker"] == "T0" and rows[0]["criteria_met"] == list(CRITERIA)
    assert all(r["passes"] for r in rows)
    everyone = trend_template_rows(result, [f"T{k}" for k in range(10)], only_passing=False)
    assert len(everyone) == 10 and "rs_rank" not in everyone[-1]["criteria_met"]


def test_near_52w_high_boundary() -> None:
    close, high, low = universe()
    price = close[0, -1]
    for top, ok in ((price / 0.75, True), (np.nextafter(price / 0.75, np.inf) * 1.0000001, False)):
        h = high.copy()
        h[0, 100] = top  # one spike in the highs only: MAs unchanged
        result = evaluate_trend_template(close, h, low, POLICY)
        assert result.high_52w[0] == top
        assert bool(result.criteria["near_52w_high"][0]) is ok


def test_above_52w_low_boundary() -> None:
    close, high, low = universe()
    price = close[0, -1]
    for bottom, ok in ((price / 1.3 * 0.9999999, True), (price / 1.3 * 1.0000001, False)):
        lo = low.copy()
        lo[0, -100] = bottom
        lo[0, :] = np.maximum(lo[0, :], bottom)  # the dip is the 52-week low
        result = evaluate_trend_template(close, high, lo, POLICY)
        assert result.low_52w[0] == pytest.approx(bottom)
        assert bool(result.criteria["above_52w_low"][0]) is ok


def test_rs_rank_boundary_70() -> None:
    close, high, low = universe()
    result = evaluate_trend_template(close, high, low, POLICY)
    # Ten tickers ordered by RS: ranks 100, 90, ..., 10; ≥ 70 keeps the best four.
    np.testing.assert_allclose(result.rs_rank, [100, 90, 80, 70, 60, 50, 40, 30, 20, 10])
    assert list(result.criteria["rs_rank"]) == [True] * 4 + [False] * 6
    stricter = evaluate_trend_template(close, high, low, TrendTemplatePolicy(rs_min_rank=70.01))
    assert list(stricter.criteria["rs_rank"]) == [True] * 3 + [False] * 7


def test_moving_average_criteria() -> None:
    close = universe()[0]
    flat = np.full(DAYS, 10_000.0)
    dip = uptrend(0.004)
    dip[-10:] = dip[-11] * 0.85  # price drops under its 50-day MA
    rows = np.stack([close[0], flat, dip])
    result = evaluate_trend_template(rows, rows * 1.01, rows * 0.99, POLICY)
    c = result.criteria
    assert c["ma200_rising"][0] and not c["ma200_rising"][1]  # flat: equal, not rising
    assert not c["ma150_above_ma200"][1] and not c["price_above_ma150_ma200"][1]
    assert not c["price_above_ma50"][2] and c["ma50_above_ma150_ma200"][2]
    assert result.ma_fast[1] == pytest.approx(10_000.0)


def test_relative_strength_weights_and_lookbacks() -> None:
    close = np.full((1, DAYS), 100.0)
    close[0, -1] = 200.0  # every lookback return is +100 %
    assert relative_strength(close, POLICY)[0] == pytest.approx(1.0)
    close[0, -1 - 63 :] = 200.0  # the 3-month return is now 0
    close[0, -1] = 200.0
    assert relative_strength(close, POLICY)[0] == pytest.approx(0.6)


def test_percentile_rank_handles_nan_and_ties() -> None:
    ranks = percentile_rank(np.array([1.0, np.nan, 3.0, 3.0, 2.0]))
    np.testing.assert_allclose(ranks, [25, np.nan, 100, 100, 50])
    assert np.isnan(percentile_rank(np.array([np.nan]))).all()


@pytest.mark.parametrize("days", [1, 30, 199, 230])
def test_short_histories_fail_without_error(days: int) -> None:
    close = uptrend(days=days)[None, :]
    result = evaluate_trend_template(close, close * 1.01, close * 0.99, POLICY)
    assert not result.passes[0]
    assert np.isnan(result.rs[0])


def test_a_gap_in_the_window_leaves_the_average_undefined() -> None:
    close, high, low = universe()
    close[0, -30] = np.nan
    result = evaluate_trend_template(close, high, low, POLICY)
    assert np.isnan(result.ma_fast[0]) and not result.passes[0]
