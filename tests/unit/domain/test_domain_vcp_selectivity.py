"""Selectivity of the detectors on the synthetic market (krstock.marketdata.sample): planted
patterns are found, noise is not. Figures: docs/engines-vcp.md (``krstock bench scan``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from krstock.domain.flows import FlowPolicy, analyze_market_flows
from krstock.domain.vcp import VcpPolicy, detect_vcp, detect_vcp_window
from krstock.domain.vcp_legacy import VcpLegacyPolicy, detect_vcp_forming, scan_legacy_signals

sample = pytest.importorskip("krstock.marketdata.sample")
oracle = pytest.importorskip("helpers.sample_oracle")  # the expected answers (tests/helpers)

TICKERS = 2500


@pytest.fixture(scope="module")
def market() -> Iterator[object]:
    yield sample.SampleMarket(seed=sample.DEFAULT_SEED, n_tickers=TICKERS)


@dataclass
class Tally:
    planted: int = 0
    found: int = 0
    status_agrees: int = 0
    pivot_agrees: int = 0
    hits: int = 0
    unplanted: int = 0


def vcp_tally(market: object) -> Tally:
    planted = market.planted  # type: ignore[attr-defined]
    vcp = planted[planted["kind"] == "vcp"]
    ever_planted = set(vcp["ticker"])
    tally = Tally(planted=len(vcp))
    for day in sorted(set(vcp["date"])):
        window = market.to_window(day, 300)  # type: ignore[attr-defined]
        result = detect_vcp_window(window, VcpPolicy())
        flagged = set(window.tickers[result.flagged])
        tally.hits += len(flagged)
        # A name planted on another date may legitimately still show its base: not "noise".
        tally.unplanted += len(flagged - ever_planted)
        for record in market.planted_on("vcp", day):  # type: ignore[attr-defined]
            i = window.index_of(record.ticker)
            if not result.flagged[i]:
                continue
            answer = oracle.expected(market, record)
            tally.found += 1
            tally.status_agrees += result.status[i] == answer["pattern"]
            tally.pivot_agrees += abs(result.pivot[i] / answer["pivot"] - 1) <= 0.02
    return tally


def test_vcp_finds_planted_bases_and_little_else(market: object) -> None:
    tally = vcp_tally(market)
    assert tally.planted >= 30
    assert tally.found / tally.planted >= 0.9, tally
    assert tally.unplanted / tally.hits <= 0.10, tally
    assert tally.status_agrees / tally.found >= 0.9, tally
    assert tally.pivot_agrees / tally.found >= 0.9, tally


def test_vcp_flags_under_one_percent_of_a_random_walk_market() -> None:
    window = sample.random_walk_market(7, TICKERS, 260)
    result = detect_vcp_window(window, VcpPolicy())
    assert result.flagged.mean() < 0.01
    # The trend template alone passes far more: the base rules do the filtering.
    assert result.trend.passes.mean() > 10 * max(result.flagged.mean(), 1 / TICKERS)


def test_vcp_legacy_finds_every_planted_legacy_signal(market: object) -> None:
    planted = market.planted  # type: ignore[attr-defined]
    legacy = planted[planted["kind"] == "legacy_vcp"]
    assert len(legacy) > 0
    for day in sorted(set(legacy["date"])):
        window = market.to_window(day, 120)  # type: ignore[attr-defined]
        flows = analyze_market_flows(window, FlowPolicy())
        signals = {s.ticker: s for s in scan_legacy_signals(window, flows, VcpLegacyPolicy())}
        for record in market.planted_on("legacy_vcp", day):  # type: ignore[attr-defined]
            assert record.ticker in signals, (day, record.ticker)
            signal = signals[record.ticker]
            answer = oracle.expected(market, record)
            assert signal.contraction_ratio == pytest.approx(answer["contraction_ratio"], abs=1e-3)
            assert signal.foreign_5d == answer["foreign_5d"]
            assert signal.entry_price == answer["close"]
            assert np.isfinite(signal.score) and signal.score >= 60


def test_vectorized_scan_agrees_with_the_per_ticker_pandas_loop() -> None:
    """Correctness of the benchmark's two arms (not a timing test)."""
    from krstock.benchmarks.scan import agreement, baseline_scan, sample_inputs, vectorized_scan

    window, series = sample_inputs(200, 260, 11)
    fast, slow = vectorized_scan(window, series), baseline_scan(window, series)
    assert all(agreement(fast, slow).values()), agreement(fast, slow)
    assert fast.trend_pass and fast.legacy  # the comparison is not vacuous
    assert fast.extras == slow.extras


def test_bench_scan_command_prints_the_figures() -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from krstock.benchmarks.scan import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps "scan" a subcommand
    result = CliRunner().invoke(
        app, ["scan", "--json", "--tickers", "60", "--days", "260", "--repeat", "1"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for key in ("tickers", "days", "vectorized_s", "baseline_s", "speedup", "peak_mb"):
        assert key in figures
    assert figures["tickers"] == 60 and figures["source"] == "sample"
    assert all(figures["agree"].values())
    bad = CliRunner().invoke(app, ["scan", "--tickers", "10"])
    assert bad.exit_code == 2


def test_real_krx_prices_with_halts_and_short_histories(shared_data: Path) -> None:
    """The real pykrx folder (300 tickers, halts as high/low 0, late listings) runs cleanly."""
    from krstock.marketdata.krx_csv import read_folder

    prices = read_folder(shared_data / "krx-daily").prices

    def grid(column: str) -> np.ndarray:
        return prices.pivot(index="ticker", columns="date", values=column).to_numpy(float)

    high, low, close, volume = (grid(c) for c in ("high", "low", "close", "volume"))
    halted = grid("halted") == 1
    assert (high <= 0).any() and np.isnan(close).any()  # the quirks are really there
    result = detect_vcp(high, low, close, volume, VcpPolicy(), halted=halted)
    trend = result.trend
    assert 0 < trend.passes.sum() < 0.5 * len(close)
    assert (trend.low_52w[np.isfinite(trend.low_52w)] > 0).all()  # halts are not 52-week lows
    assert result.flagged.mean() < 0.05
    for i in np.flatnonzero(result.flagged):
        assert not halted[i, -VcpPolicy().base_days :].any()
    legacy = detect_vcp_forming(high, low, close, volume, VcpLegacyPolicy())
    assert 0 < legacy.is_vcp.sum() < len(close)  # the monolith's loose rule does fire
    assert (legacy.contraction[legacy.is_vcp] <= 0.8).all()
