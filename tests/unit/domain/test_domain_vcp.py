"""vcp: the Minervini detector on hand-built bases (every rule at its boundary) and its
selectivity on a self-contained random-walk market with planted patterns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krstock.domain.vcp import (
    VcpPolicy,
    VcpResult,
    detect_vcp,
    detect_vcp_window,
    find_contractions,
    vcp_rows,
)

POLICY = VcpPolicy()
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def vcp_ticker(
    depths: tuple[float, ...] = (0.20, 0.10, 0.04),
    breakout: bool = False,
    days: int = 260,
    leg: int = 8,
    final: float = 0.99,
    last_recovery: float = 0.995,
    last_volume: float = 0.25,
) -> Arrays:
    """A 0.4 %/day advance, then one contraction per depth (``leg`` days down, ``leg`` days back
    to 99.5 % of the left high), volume drying up in the last one; the last day closes at
    ``final`` × that level, or 3 % above it on 2.5× volume for a breakout. The last recovery
    stops at ``last_recovery`` × the left high."""
    n = len(depths)
    pre = days - (n * 2 * leg + 2)
    close = list(10_000 * np.exp(0.004 * np.arange(pre)))
    peak = level = close[-1]
    volume = [1e6] * pre
    for j, depth in enumerate(depths):
        close += list(np.geomspace(level, level * (1 - depth), leg + 1)[1:])
        level = peak * (last_recovery if j == n - 1 else 0.995)
        close += list(np.geomspace(close[-1], level, leg + 1)[1:])
        volume += [1e6 * (last_volume if j == n - 1 else 1.0 - 0.2 * j)] * (2 * leg)
    close += [level * 0.997, level * (1.03 if breakout else final)]
    volume += [0.35e6, 2.5e6 if breakout else 0.35e6]
    c = np.array(close)[None, :]
    return c * 1.003, c * 0.997, c, np.array(volume)[None, :]


def run(arrays: Arrays, policy: VcpPolicy = POLICY) -> VcpResult:
    return detect_vcp(arrays[0], arrays[1], arrays[2], arrays[3], policy)


# ----------------------------------------------------------------- the zigzag


def test_find_contractions_on_a_drawn_base() -> None:
    # Left high 100 → 80, back to 98 → 88, back to 97 → 93 (still falling today).
    path = [90, 95, 100, 90, 80, 90, 98, 92, 88, 93, 97, 95, 93]
    high = np.array([path], dtype=float)
    found = find_contractions(high, high, 0.03, 6)
    assert found.count[0] == 3 and found.ongoing[0]
    np.testing.assert_allclose(found.peak[0, :3], [100, 98, 97])
    np.testing.assert_allclose(found.trough[0, :3], [80, 88, 93])
    np.testing.assert_array_equal(found.peak_day[0, :3], [2, 6, 10])
    np.testing.assert_allclose(found.depth[0, :3], [0.2, 10 / 98, 4 / 97])
    assert found.base_start[0] == 2


def test_zigzag_ignores_wiggles_below_the_swing_threshold() -> None:
    path = [100, 99, 100, 98.5, 99.5, 99]  # dips of ≤ 2 % never confirm a swing at 3 %
    found = find_contractions(np.array([path]), np.array([path]), 0.03, 6)
    assert found.count[0] == 0


def test_rows_with_missing_data_yield_nothing() -> None:
    high, low, close, volume = vcp_ticker()
    high[0, -10] = np.nan
    result = run((high, low, close, volume))
    assert not result.flagged[0] and result.n_contractions[0] == 0 and np.isnan(result.score[0])
    empty = np.full((3, 5), np.nan)
    assert not detect_vcp(empty, empty, empty, empty, POLICY).flagged.any()


# ----------------------------------------------------------------- hand-built bases


def test_setup_found_with_pivot_depths_and_score() -> None:
    result = run(vcp_ticker())
    assert result.flagged[0] and result.status[0] == "setup"
    assert result.n_contractions[0] == 3
    np.testing.assert_allclose(
        result.contractions.depth[0, :3], [0.2048, 0.1054, 0.0457], atol=1e-3
    )
    assert result.depths_decreasing[0] and result.higher_lows[0]
    assert result.dry_up_ratio[0] < POLICY.dry_up_max_ratio
    components = {k: float(v[0]) for k, v in result.components.items()}
    assert set(components) == {
        "trend",
        "contractions",
        "tightness",
        "volume_dry_up",
        "rs",
        "breakout",
    }
    assert result.score[0] == pytest.approx(sum(components.values()))
    assert components["breakout"] == 0 and components["trend"] == POLICY.weight_trend
    rows = vcp_rows(result, ["005930"], "2026-11-20")
    assert rows[0]["status"] == "setup" and rows[0]["contractions"] == 3
    assert rows[0]["pivot"] == result.pivot[0] and len(rows[0]["depths"]) == 3


def test_breakout_on_volume_scores_higher() -> None:
    setup, breakout = run(vcp_ticker()), run(vcp_ticker(breakout=True))
    assert breakout.status[0] == "breakout" and breakout.volume_ratio[0] > 1.4
    assert breakout.components["breakout"][0] == POLICY.weight_breakout
    assert breakout.score[0] == pytest.approx(setup.score[0] + POLICY.weight_breakout)


def test_breakout_volume_boundary() -> None:
    arrays = vcp_ticker(breakout=True)
    ratio = float(run(arrays).volume_ratio[0])
    at = VcpPolicy(breakout_volume_mult=ratio)
    above = VcpPolicy(breakout_volume_mult=float(np.nextafter(ratio, np.inf)))
    assert run(arrays, at).status[0] == "breakout"
    # Above the pivot without the volume: neither a breakout nor a setup.
    missed = run(arrays, above)
    assert not missed.flagged[0] and missed.status[0] == ""


def test_dry_up_boundary_is_strict() -> None:
    arrays = vcp_ticker()
    ratio = float(run(arrays).dry_up_ratio[0])
    assert not run(arrays, VcpPolicy(dry_up_max_ratio=ratio)).flagged[0]
    assert run(arrays, VcpPolicy(dry_up_max_ratio=float(np.nextafter(ratio, np.inf)))).flagged[0]


def test_depth_ratio_boundary() -> None:
    arrays = vcp_ticker(depths=(0.20, 0.17, 0.04))  # 0.17 / 0.20 ≈ 0.85 > 0.8
    assert not run(arrays).flagged[0]
    assert run(arrays, VcpPolicy(max_depth_ratio=1.0)).flagged[0]


def test_depths_must_keep_shrinking_after_the_deepest() -> None:
    assert not run(vcp_ticker(depths=(0.20, 0.06, 0.08))).flagged[0]


def test_pattern_starts_at_the_deepest_contraction() -> None:
    result = run(vcp_ticker(depths=(0.10, 0.20, 0.04)))
    assert result.flagged[0] and result.n_contractions[0] == 2


@pytest.mark.parametrize("depths", [(0.06,), (0.04,)])
def test_one_contraction_is_not_a_vcp(depths: tuple[float, ...]) -> None:
    assert not run(vcp_ticker(depths=depths)).flagged[0]


def test_first_and_last_depth_limits_are_inclusive() -> None:
    deep = vcp_ticker(depths=(0.40, 0.15, 0.06))
    first = float(run(deep, VcpPolicy(max_first_depth=0.5)).first_depth[0])
    assert first > POLICY.max_first_depth and not run(deep).flagged[0]
    assert run(deep, VcpPolicy(max_first_depth=first)).flagged[0]
    assert not run(deep, VcpPolicy(max_first_depth=float(np.nextafter(first, 0)))).flagged[0]
    loose = vcp_ticker(depths=(0.30, 0.14))
    last = float(run(loose, VcpPolicy(max_last_depth=0.5)).last_depth[0])
    assert last > POLICY.max_last_depth and not run(loose).flagged[0]
    assert run(loose, VcpPolicy(max_last_depth=last)).flagged[0]


def test_setup_must_sit_close_under_the_pivot() -> None:
    # The last contraction (8 %) recovers only to 94.5 % of the left high: 5.3 % under the pivot.
    far = vcp_ticker(depths=(0.20, 0.08), last_recovery=0.945, final=1.0)
    result = run(far, VcpPolicy(max_pivot_distance=0.08))
    assert result.flagged[0] and result.status[0] == "setup"
    assert 0.05 < 1 - far[2][0, -1] / result.pivot[0] < 0.06
    assert not run(far).flagged[0]


def test_trend_template_gate() -> None:
    # The base among nine far stronger stocks: its RS rank is 10, so the template fails.
    base = vcp_ticker()
    stronger = [vcp_ticker() for _ in range(9)]
    lift = np.exp(np.linspace(0, 2.0, base[2].shape[1]))[None, :]
    high, low, close, volume = (
        np.concatenate([base[k]] + [s[k] * (lift if k < 3 else 1) for s in stronger])
        for k in range(4)
    )
    result = detect_vcp(high, low, close, volume, POLICY)
    assert result.trend.rs_rank[0] == 10.0 and not result.trend.criteria["rs_rank"][0]
    assert not result.flagged[0]
    assert detect_vcp(high, low, close, volume, VcpPolicy(require_trend_template=False)).flagged[0]


def test_window_entry_point_matches_arrays() -> None:
    from krstock.domain.market import MarketWindow

    high, low, close, volume = vcp_ticker(breakout=True)
    days = close.shape[1]
    window = MarketWindow(
        tickers=np.array(["000001"]),
        dates=np.arange(np.datetime64("2026-01-01"), np.datetime64("2026-01-01") + days),
        open=close,
        high=high,
        low=low,
        close=close,
        volume=volume,
        trading_value=close * volume,
        halted=np.zeros_like(close, dtype=bool),
        foreign_net_shares=np.zeros_like(close),
        inst_net_shares=np.zeros_like(close),
        foreign_net_krw=np.zeros_like(close),
        inst_net_krw=np.zeros_like(close),
        names=np.array(["x"], dtype=object),
        markets=np.array(["KOSPI"], dtype=object),
    )
    assert detect_vcp_window(window, POLICY).status[0] == "breakout"


# ----------------------------------------------------------------- selectivity (own generator)


def random_walks(rng: np.random.Generator, tickers: int, days: int) -> Arrays:
    close = 10_000 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (tickers, days)), axis=1))
    spread = np.abs(rng.normal(0, 0.012, (tickers, days)))
    high = close * (1 + spread * rng.uniform(0.2, 1, (tickers, days)))
    low = close * (1 - spread * rng.uniform(0.2, 1, (tickers, days)))
    volume = 1e6 * np.exp(rng.normal(0, 0.4, (tickers, days)))
    return high, low, close, volume


def planted(rng: np.random.Generator, days: int, breakout: bool) -> Arrays:
    """A noisy uptrend into 2–4 contractions shrinking geometrically from 12–30 % to 3.5–8 %
    (each at most 70 % of the one before), volume drying up to a quarter in the last one."""
    n = int(rng.integers(2, 5))
    last = rng.uniform(0.035, 0.08)
    ratio = min((last / rng.uniform(0.12, 0.30)) ** (1 / (n - 1)), 0.7)
    depths = last / ratio ** np.arange(n - 1, -1, -1)
    legs = [(d, int(rng.integers(5, 10)), int(rng.integers(5, 10))) for d in depths]
    base = sum(a + b for _, a, b in legs) + 3
    pre = days - base
    advance = 10_000 * np.exp(np.cumsum(rng.normal(rng.uniform(0.003, 0.005), 0.012, pre)))
    advance[-5:] = np.linspace(advance[-6], advance.max() * 1.01, 6)[1:]
    peak = level = advance[-1]
    path: list[float] = []
    vols: list[float] = []
    for j, (depth, down, up) in enumerate(legs):
        path += list(np.geomspace(level, level * (1 - depth), down + 1)[1:])
        level = peak * rng.uniform(0.985, 0.998)
        path += list(np.geomspace(path[-1], level, up + 1)[1:])
        vols += [0.25 if j == n - 1 else 1.0 - 0.15 * j] * (down + up)
    tail = [level * 0.995, level * 0.993, level * (1.03 if breakout else 0.99)]
    close = np.r_[advance, path, tail] * (1 + rng.normal(0, 0.002, days))
    spread = np.r_[np.full(pre, 0.012), np.full(base, 0.006)]
    volume = 1e6 * np.exp(rng.normal(0, 0.2, days))
    volume[pre:] *= np.r_[vols, [0.25, 0.25, 0.25]]
    if breakout:
        volume[-1] = 2.5e6
    return close * (1 + spread), close * (1 - spread), close, volume


@pytest.mark.parametrize("seed", [1, 2])
def test_selectivity_on_random_walks_with_planted_bases(seed: int) -> None:
    """Lesson 3: random walks are almost never flagged; planted bases almost always are."""
    rng = np.random.default_rng(seed)
    noise, plants, days = 2000, 60, 260
    high, low, close, volume = random_walks(rng, noise + plants, days)
    for k in range(plants):
        row = noise + k
        high[row], low[row], close[row], volume[row] = planted(rng, days, breakout=bool(k % 2))
    result = detect_vcp(high, low, close, volume, POLICY)
    false_hits = int(result.flagged[:noise].sum())
    found = int(result.flagged[noise:].sum())
    assert false_hits / noise < 0.01
    assert found / plants >= 0.9
    assert false_hits / max(found + false_hits, 1) <= 0.10
    statuses = set(result.status[noise:][result.flagged[noise:]])
    assert statuses == {"setup", "breakout"}


def test_a_halt_inside_the_base_disqualifies_it() -> None:
    high, low, close, volume = vcp_ticker()
    assert run((high, low, close, volume)).flagged[0]
    # KRX reports a halted day with high/low 0 and the close carried over.
    high[0, -20], low[0, -20], volume[0, -20] = 0.0, 0.0, 0.0
    result = run((high, low, close, volume))
    assert not result.flagged[0]
    # The trend template reads the halt as a flat bar at the close, not a 52-week low of 0.
    assert result.trend.low_52w[0] > 0 and result.trend.passes[0]
    flagged = detect_vcp(*vcp_ticker(), POLICY, halted=np.eye(1, 260, 250, dtype=bool))
    assert not flagged.flagged[0]


@pytest.mark.parametrize("days", [1, 2, 30, 70])
def test_short_windows_flag_nothing_without_error(days: int) -> None:
    high, low, close, volume = (a[:, -days:] for a in vcp_ticker())
    result = detect_vcp(high, low, close, volume, POLICY)
    assert not result.flagged[0]
    with pytest.raises(ValueError, match="no days"):
        detect_vcp(high[:, :0], low[:, :0], close[:, :0], volume[:, :0], POLICY)
    with pytest.raises(ValueError, match="same shape"):
        detect_vcp(high, np.vstack([low, low]), close, volume, POLICY)


def test_the_maximum_score_is_reachable() -> None:
    """Lesson 2: every component can reach its weight, so a perfect breakout scores 100."""
    result = run(vcp_ticker(depths=(0.16, 0.07, 0.03), breakout=True, last_volume=0.15))
    assert result.status[0] == "breakout" and result.last_depth[0] <= POLICY.tight_depth
    for name, value in result.components.items():
        assert value[0] == pytest.approx(getattr(POLICY, f"weight_{name.split('_')[0]}")), name
    assert result.score[0] == pytest.approx(100.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_flag_satisfies_the_rules(seed: int) -> None:
    """Invariants on random markets: a flagged ticker meets every rule; scores stay in 0–100."""
    rng = np.random.default_rng(seed)
    high, low, close, volume = random_walks(rng, 300, 260)
    for k in range(5):  # a few planted bases so the invariants are exercised
        high[k], low[k], close[k], volume[k] = planted(rng, 260, breakout=bool(k % 2))
    result = detect_vcp(high, low, close, volume, POLICY)
    assert result.flagged[:5].any()
    scores = result.score[np.isfinite(result.score)]
    assert ((scores >= 0) & (scores <= 100)).all()
    for i in np.flatnonzero(result.flagged):
        n = result.n_contractions[i]
        depths = result.contractions.depth[i, :n]
        assert POLICY.min_contractions <= n <= POLICY.max_contractions
        assert (depths[1:] < POLICY.max_depth_ratio * depths[:-1]).all()
        assert POLICY.min_first_depth <= depths[0] <= POLICY.max_first_depth
        assert depths[-1] <= POLICY.max_last_depth
        assert result.dry_up_ratio[i] < POLICY.dry_up_max_ratio and result.trend.passes[i]
        price = close[i, -1]
        if result.status[i] == "breakout":
            assert price > result.pivot[i] and result.volume_ratio[i] >= 1.4
        else:
            assert 0.95 * result.pivot[i] <= price <= result.pivot[i]
