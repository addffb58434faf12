"""KRX price rules: tick sizes by price band and the ±30 % daily limit (vectorized)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# KRX tick bands: a price below _TICK_BOUNDS[k] (and not below the previous bound) uses _TICKS[k].
_TICK_BOUNDS = np.array([2_000, 5_000, 20_000, 50_000, 200_000, 500_000], dtype=np.float64)
_TICKS = np.array([1, 5, 10, 50, 100, 500, 1_000], dtype=np.float64)


def tick_size(price: FloatArray | float) -> FloatArray:
    """The KRX tick for a price: <2,000:1; <5,000:5; <20,000:10; <50,000:50; <200,000:100;
    <500,000:500; else 1,000 won."""
    return _TICKS[np.searchsorted(_TICK_BOUNDS, np.asarray(price, dtype=np.float64), side="right")]


def round_to_tick(price: FloatArray) -> FloatArray:
    tick = tick_size(price)
    return np.maximum(np.round(price / tick) * tick, 1.0)


def floor_to_tick(price: FloatArray) -> FloatArray:
    tick = tick_size(price)
    return np.maximum(np.floor(price / tick) * tick, 1.0)


def ceil_to_tick(price: FloatArray) -> FloatArray:
    tick = tick_size(price)
    return np.maximum(np.ceil(price / tick) * tick, 1.0)


def limit_up(prev_close: FloatArray) -> FloatArray:
    """Upper price limit: previous close + 30 %, truncated to the tick."""
    return floor_to_tick(prev_close * 1.3)


def limit_down(prev_close: FloatArray) -> FloatArray:
    """Lower price limit: previous close − 30 %, rounded up to the tick."""
    return ceil_to_tick(prev_close * 0.7)
