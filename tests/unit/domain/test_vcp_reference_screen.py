"""The re-implemented public VCP screen (``krstock.benchmarks.vcp_reference``) that `krstock
bench vcp --reference` sets beside our detector: its rules on hand-drawn bases, its noise rate,
and the comparison on real data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from krstock.benchmarks import vcp_reference as ref


def _base(legs: list[tuple[float, float, int]]) -> tuple[np.ndarray, ...]:
    """A 260-day uptrend (compounding from 20) into a base drawn leg by leg (start, end, days);
    highs and lows ±1 %."""
    advance = np.geomspace(20.0, legs[0][0], 260 - sum(n for *_, n in legs))
    base = np.concatenate([np.linspace(a, b, n, endpoint=False) for a, b, n in legs])
    close = np.concatenate([advance, base])
    return close * 1.01, close * 0.99, close


def _read(legs: list[tuple[float, float, int]]) -> ref.Reading:
    high, low, close = _base(legs)
    atr = np.full(close.size, 0.01 * close[-1])  # 2 × ATR = 2 % of the last price
    return ref.read_base(high[-120:], low[-120:], close[-120:], atr[-120:])


# 100 → 75 (25 %) → 95 → 83 (12.6 %) → 92 → 87 (5.4 %) → back to 91.5, under the 92 pivot.
VCP = [(100.0, 75.0, 20), (75.0, 95.0, 15), (95.0, 83.0, 10), (83.0, 92.0, 10)]
VCP += [(92.0, 87.0, 6), (87.0, 91.5, 6)]


def test_three_contractions_are_read_with_their_depths_and_flagged() -> None:
    reading = _read(VCP)
    assert reading.flagged and reading.why == "setup"
    # Depths as the test computes them from the drawn legs (highs +1 %, lows −1 %).
    expected = [(h * 1.01 - lo * 0.99) / (h * 1.01) for h, lo in ((100, 75), (95, 83), (92, 87))]
    assert reading.depths == pytest.approx(expected, abs=1e-3)
    assert reading.pivot == pytest.approx(92.0 * 1.01)


@pytest.mark.parametrize(
    ("legs", "why"),
    [
        # The second contraction deeper than the first.
        (
            [(100.0, 90.0, 15), (90.0, 98.0, 10), (98.0, 80.0, 15), (80.0, 96.0, 15)],
            "a contraction over 0.75 × the one before",
        ),
        # A first pullback of 6 %: too shallow to start a base.
        (
            [(100.0, 94.0, 10), (94.0, 99.0, 10), (99.0, 96.0, 8), (96.0, 98.5, 8)],
            "first contraction under 8 %",
        ),
        # Two clean contractions, then a slide that has not bounced: 13 % under the pivot.
        (
            [*VCP[:-2], (92.0, 88.0, 4), (88.0, 81.5, 3)],
            "close not within -8 % … +3 % of the pivot",
        ),
        # One pullback only.
        ([(100.0, 80.0, 20), (80.0, 96.0, 20)], "fewer than 2 contractions"),
    ],
)
def test_each_rule_can_refuse(legs: list[tuple[float, float, int]], why: str) -> None:
    reading = _read(legs)
    assert not reading.flagged
    assert reading.why == why


def test_the_zigzag_needs_two_atr_to_turn() -> None:
    high = np.array([10.0, 11.0, 10.6, 11.2, 10.0, 10.9, 12.0])
    low = high - 0.1
    atr = np.full(high.size, 0.25)  # a reversal needs 0.5
    swings = ref.zigzag(high, low, atr)
    # The low of 10.5 is exactly 2 ATR under 11.0: a high. 11.2 is 0.7 over 10.5: a low.
    assert swings[0] == ("H", 1, 11.0)
    assert ("L", 2, pytest.approx(10.5)) == swings[1]
    assert swings[2][0:2] == ("H", 3) and swings[3][0:2] == ("L", 4)


def test_trend_template_and_screen_on_a_window() -> None:
    """A 30-ticker window: the drawn VCP passes the trend template (its RS is the highest) and
    is the one flag; flat tickers fail the template."""
    high, low, close = _base(VCP)
    flat = np.full((29, close.size), 50.0)
    market = SimpleNamespace(
        tickers=np.array([f"{i:06d}" for i in range(30)]),
        high=np.vstack([high, flat * 1.01]),
        low=np.vstack([low, flat * 0.99]),
        close=np.vstack([close, flat]),
        volume=np.full((30, close.size), 1000.0),
    )
    passes, flags, readings = ref.screen_last_day(market)  # type: ignore[arg-type]
    assert passes[0] and not passes[1:].any()
    assert flags.tolist() == [True] + [False] * 29
    assert readings["000000"].why == "setup"


def test_random_walks_rarely_flag_and_the_comparison_runs_on_real_data(
    shared_data: Path, tmp_path: Path
) -> None:
    from krstock.benchmarks.vcp_real import load_krx_daily, real_report, scan_days
    from krstock.domain.vcp import VcpPolicy
    from krstock.marketdata.sample import random_walk_market

    passes, flags, _ = ref.screen_last_day(random_walk_market(7, 500, 260))
    assert passes.sum() > 20 and flags.sum() <= 0.02 * 500  # noise passes, few flags

    for name in ("099410", "368770", "005930", "000660", "035720", "025880"):
        shutil.copy(shared_data / "krx-daily" / f"{name}.csv", tmp_path / f"{name}.csv")
    market = load_krx_daily(tmp_path)
    days = scan_days(market, step=5)
    ours = real_report(market, VcpPolicy(), step=5)["hits"]
    report = ref.compare(market, days, ours)
    assert report["dates"] == len(days) == len(report["per_date"])
    assert report["ours_flags"] == len(ours)
    assert report["reference_flags"] == sum(r["reference_flagged"] for r in report["per_date"])
    assert sum(report["reference_passers_ended_at"].values()) == sum(
        r["reference_trend_template"] for r in report["per_date"]
    )
    json.dumps(report)  # the --json output
