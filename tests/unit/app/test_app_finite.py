"""Strict-JSON values: what the app stores in JSONB and returns to the CLI and the API."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np

from krstock.app.finite import finite


def test_non_finite_floats_become_null_at_any_depth() -> None:
    value = {
        "a": math.nan,
        "b": [1.5, math.inf, {"c": -math.inf}],
        "d": (np.float64("nan"), np.float32(2.5)),
        "e": np.int64(7),
        "f": "NaN",
        "g": date(2025, 12, 30),
        "h": None,
    }
    clean = finite(value)
    assert clean == {
        "a": None,
        "b": [1.5, None, {"c": None}],
        "d": [None, 2.5],
        "e": 7,
        "f": "NaN",
        "g": date(2025, 12, 30),
        "h": None,
    }
    assert type(clean["e"]) is int
    json.dumps(clean, allow_nan=False, default=str)


def test_finite_values_are_kept_as_they_are() -> None:
    value = {"score": 9, "ratio": 0.25, "flag": True, "tags": ["x"]}
    assert finite(value) == value
    assert finite(True) is True
