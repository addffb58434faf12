"""The run catalogue: one name per kind, strategies as objects, typed run requests."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from helpers.domain_windows import make_window

from krstock.app import catalogue, kinds
from krstock.app.kinds import RunKind, Task, parse_kind
from krstock.app.runs import RunRequest, Universe
from krstock.domain.policy import SignalPolicy


def _movers_window(changes_pct: list[float]) -> object:
    """Tickers that closed at 10,000 yesterday and moved by ``changes_pct`` today, each with a
    trading value (200 bn KRW) that both presets accept."""
    n, days = len(changes_pct), 30
    close = np.full((n, days), 10_000.0)
    close[:, -1] = 10_000.0 * (1 + np.asarray(changes_pct) / 100)
    volume = np.full((n, days), 20_000_000.0)
    return make_window(close, volume=volume, markets=["KOSPI"] * n)


def test_every_scan_kind_has_a_strategy_and_every_kind_a_task() -> None:
    assert set(catalogue.STRATEGIES) == set(kinds.SCAN_KINDS)
    assert set(kinds.TASK_OF_KIND) == set(RunKind)
    for task in kinds.TASK_OF_KIND.values():
        assert kinds.queue_for(task) in kinds.QUEUES
    assert catalogue.BACKTEST_KINDS == (RunKind.VCP, RunKind.VCP_LEGACY, RunKind.CLOSING_BET)
    assert not catalogue.strategy(RunKind.TREND_TEMPLATE).backtestable
    assert catalogue.strategy(RunKind.TREND_TEMPLATE).flow_days == 0
    assert catalogue.kinds_exiting_by("vcp") == (RunKind.VCP, RunKind.VCP_LEGACY)


@pytest.mark.parametrize(
    ("spelling", "kind"),
    [
        ("jongga_v2", RunKind.CLOSING_BET),
        ("closing_bet", RunKind.CLOSING_BET),
        ("Closing-Bet", RunKind.CLOSING_BET),
        ("vcp_legacy", RunKind.VCP_LEGACY),
        ("market_gate", RunKind.MARKET_GATE),
        ("gate", RunKind.MARKET_GATE),
        ("analyze", RunKind.ANALYSIS),
        ("daily-pipeline", RunKind.PIPELINE),
    ],
)
def test_every_spelling_maps_to_one_kind(spelling: str, kind: RunKind) -> None:
    assert parse_kind(spelling) is kind


def test_a_wrong_kind_names_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="unknown scan kind 'track'; use one of vcp, "):
        parse_kind("track", kinds.SCAN_KINDS, what="scan kind")


def test_run_ids_have_one_format() -> None:
    run_id = kinds.new_run_id(RunKind.CLOSING_BET, date(2026, 1, 5))
    assert (
        run_id.startswith("closing-bet-20260105-")
        and len(run_id) == len("closing-bet-20260105-") + 8
    )
    assert kinds.step_run_id("daily-20260105-abcd1234", RunKind.MARKET_GATE) == (
        "daily-20260105-abcd1234:market-gate"
    )
    assert len(kinds.step_run_id("x" * 80, RunKind.ANALYSIS)) == kinds.RUN_ID_MAX


def test_request_parse_takes_one_spelling_and_refuses_the_rest() -> None:
    request = RunRequest.parse(
        "jongga_v2", day="2026-01-05", policy="p10", markets="KOSPI, KOSDAQ", top_n="50"
    )
    assert request.kind is RunKind.CLOSING_BET and request.day == date(2026, 1, 5)
    assert request.universe == Universe(("KOSPI", "KOSDAQ"), None, 50)
    assert request.task_kwargs() == {
        "kind": "closing-bet",
        "day": "2026-01-05",
        "policy": "p10",
        "markets": ["KOSPI", "KOSDAQ"],
        "top_n": 50,
    }
    with pytest.raises(ValueError, match="a market-gate run does not take tickers"):
        RunRequest.parse("market_gate", day="2026-01-05", tickers=["005930"])
    with pytest.raises(ValueError, match="unknown backtest strategy 'trend-template'"):
        RunRequest.parse("backtest", strategy="trend-template", start="2026-01-02")
    with pytest.raises(ValueError, match="is not an ISO date"):
        RunRequest.parse("vcp", day="05/01/2026")
    with pytest.raises(ValueError, match="top_n must be at least 1"):
        RunRequest.parse("vcp", day="2026-01-05", top_n=0)


def test_backtest_and_pipeline_requests_reach_their_tasks() -> None:
    backtest = RunRequest.parse(
        "backtest", strategy="closing_bet", start="2026-01-02", end="2026-01-30"
    )
    assert kinds.task_for(backtest.kind) is Task.BACKTEST
    assert backtest.task_kwargs() == {
        "strategy": "closing-bet",
        "start": "2026-01-02",
        "end": "2026-01-30",
    }
    pipeline = RunRequest.parse("daily", day="2026-01-05", scans="vcp,closing_bet").with_run_id()
    assert pipeline.run_id and pipeline.run_id.startswith("pipeline-20260105-")
    assert pipeline.task_kwargs()["scans"] == ["vcp", "closing-bet"]
    assert kinds.daily_steps(pipeline.scans) == (
        RunKind.COLLECT,
        RunKind.MARKET_GATE,
        RunKind.VCP,
        RunKind.CLOSING_BET,
        RunKind.ANALYSIS,
        RunKind.TRACK,
    )


def test_news_is_read_for_the_movers_the_preset_scores() -> None:
    """p10 lowers the closing-bet floor to 3 %: its 3–5 % movers get their news read (before,
    news was read only at ≥ 5 %, so those candidates graded C for want of news)."""
    window = _movers_window([4.0, 6.0, 1.0])
    bet = catalogue.strategy(RunKind.CLOSING_BET)
    assert bet.news_tickers(window, SignalPolicy.preset("monolith")) == ["000002"]
    assert bet.news_tickers(window, SignalPolicy.preset("p10")) == ["000002", "000001"]


def test_backtests_replay_the_live_strategy_keeping_entries() -> None:
    window = _movers_window([4.0, 6.0, 1.0])
    policy = SignalPolicy.preset("p10")
    bet = catalogue.strategy(RunKind.CLOSING_BET)
    live = bet.scan(window, policy, catalogue.ScanContext(news=None)).rows
    assert bet.entries(window, policy) == [r for r in live if r["status"] == "OPEN"]


def test_the_cli_lists_the_backtest_strategies_of_the_catalogue() -> None:
    from krstock.commands.scan import BACKTEST_NAMES

    assert BACKTEST_NAMES == catalogue.BACKTEST_KINDS
