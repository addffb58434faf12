"""Golden tests: the original engine's real outputs (shared data) reproduced from their inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.domain_windows import make_window

from krstock.domain.closing_bet import (
    ClosingBetPolicy,
    grades,
    news_scores,
    p10_closing_bet_policy,
    run_closing_bet,
    size_position,
    supply_scores,
    volume_scores,
)

COMPONENTS = ("news", "volume", "chart", "candle", "consolidation", "supply")


def _signals(shared_data: Path, day: str) -> list[dict[str, Any]]:
    path = shared_data / "legacy" / f"jongga_v2_results_{day}.json"
    return json.loads(path.read_text(encoding="utf-8"))["signals"]


def _check_signal(sig: dict[str, Any], policy: ClosingBetPolicy) -> None:
    score = sig["score"]
    total = sum(score[c] for c in COMPONENTS)
    assert total == score["total"], sig["stock_code"]
    grade = grades(
        [total],
        [sig["trading_value"]],
        [sig["change_pct"]],
        [score["news"]],
        [score["volume"]],
        policy,
    )[0]
    assert grade == sig["grade"], sig["stock_code"]
    # The volume component is a pure function of the recorded trading value (units: won).
    assert volume_scores([sig["trading_value"]], policy)[0] == score["volume"], sig["stock_code"]
    if sig.get("foreign_5d") is not None:
        assert supply_scores([sig["foreign_5d"]], [sig["inst_5d"]])[0] == score["supply"]
    sizing = size_position(float(sig["entry_price"]), sig["grade"], policy)
    assert sizing.stop_price == sig["stop_price"], sig["stock_code"]
    assert sizing.target_price == sig["target_price"], sig["stock_code"]
    assert sizing.quantity == sig["quantity"], sig["stock_code"]
    assert sizing.position_size == sig["position_size"], sig["stock_code"]
    assert sizing.r_value == sig["r_value"]
    checklist = sig["checklist"]
    assert checklist["mandatory"] == {"news": score["news"] >= 1, "volume": score["volume"] >= 1}
    for name in ("chart", "candle", "consolidation", "supply"):
        assert checklist["optional"][name] == (score[name] > 0), (sig["stock_code"], name)
    # news ≥ 1 always had news items behind it (the LLM is only called when news exists).
    assert len(sig["news_items"]) >= 1


@pytest.mark.parametrize("day", ["20260115", "20260116"])
def test_original_engine_outputs_are_reproduced(shared_data: Path, day: str) -> None:
    policy = ClosingBetPolicy()
    signals = _signals(shared_data, day)
    assert signals, "golden file has signals"
    for sig in signals:
        _check_signal(sig, policy)
    # Sort order of the original: grade, then −total (stable on ties).
    keys = [("SAB".index(s["grade"]), -s["score"]["total"]) for s in signals]
    assert keys == sorted(keys)


def test_golden_worked_examples_in_won() -> None:
    policy = ClosingBetPolicy()
    a = size_position(38_350, "B", policy)
    assert (a.quantity, a.position_size, a.stop_price, a.target_price) == (
        108,
        4_141_800,
        37_199,
        40_267,
    )
    b = size_position(26_950, "B", policy)
    assert (b.quantity, b.position_size, b.stop_price, b.target_price) == (
        154,
        4_150_300,
        26_141,
        28_297,
    )
    assert a.r_value == 250_000.0
    # Recorded trading values and their volume scores (lessons item 1: units).
    assert volume_scores([179_653_308_450, 556_260_663_125], policy).tolist() == [1, 2]
    assert volume_scores([132_400_000_000, 383_100_000_000], policy).tolist() == [1, 1]


def test_p10_variant_reproduces_every_signal_of_20260205(shared_data: Path) -> None:
    policy = p10_closing_bet_policy()
    signals = _signals(shared_data, "20260205")
    assert len(signals) == 43
    counts = {"S": 0, "A": 0, "B": 0}
    for sig in signals:
        _check_signal(sig, policy)
        counts[sig["grade"]] += 1
        # The p10 universe floor (5억, +3%) admits every recorded signal.
        assert sig["trading_value"] >= policy.min_trading_value
        assert policy.min_change_pct <= sig["change_pct"] <= policy.max_change_pct
    assert counts == {"S": 2, "A": 18, "B": 23}
    # The original thresholds would have graded most of them C.
    orig = ClosingBetPolicy()
    g = grades(
        [s["score"]["total"] for s in signals],
        [s["trading_value"] for s in signals],
        [s["change_pct"] for s in signals],
        [s["score"]["news"] for s in signals],
        volume_scores([s["trading_value"] for s in signals], orig),
        orig,
    )
    assert (g == "C").sum() > 20


def test_news_scores_follow_the_llm_and_fallback_rules() -> None:
    policy = ClosingBetPolicy()
    counts = [0, 0, 1, 2, 3, 1, 2, 3]
    llm = [np.nan, 3, 0, 0, 2, np.nan, np.nan, 3]
    assert news_scores(counts, llm, policy).tolist() == [0, 0, 0, 1, 2, 1, 1, 3]
    # LLM values outside 0–3 are clipped.
    assert news_scores([1, 1], [7, -2], policy).tolist() == [3, 0]


def _golden_window(sig: dict[str, Any]) -> Any:
    """A one-ticker window whose last day matches a recorded signal's inputs and checklist."""
    entry = float(sig["entry_price"])
    change = sig["change_pct"] / 100
    prev = round(entry / (1 + change))
    assert round((entry / prev - 1) * 100, 2) == sig["change_pct"]
    days = 260
    score = sig["score"]
    if score["chart"] == 2:  # steady rise: new high and MAs aligned
        base = prev / 1.002 ** np.arange(days - 2, -1, -1)
    else:  # flat at 1.1 × prev, then a slide to prev: new high but MAs not aligned
        base = np.concatenate([np.full(days - 21, prev * 1.1), np.linspace(prev * 1.1, prev, 20)])
        assert score["chart"] == 1
    close = np.concatenate([base, [entry]])[None, :]
    open_ = close.copy()
    high = close * 1.001
    low = close * 0.999
    if score["candle"] == 1:  # full-body bullish candle
        open_[0, -1], high[0, -1], low[0, -1] = prev, entry, prev
    else:  # bearish candle on an up day (opened higher, closed lower)
        open_[0, -1], high[0, -1], low[0, -1] = entry * 1.02, entry * 1.02, prev
    tv = close * 1_000_000
    tv[0, -1] = sig["trading_value"]
    flows_f = np.full(close.shape, np.nan)
    flows_i = np.full(close.shape, np.nan)
    if sig.get("foreign_5d") is not None:
        flows_f[0, -5:] = [0, 0, 0, 0, sig["foreign_5d"]]
        flows_i[0, -5:] = [0, 0, 0, 0, sig["inst_5d"]]
    start = np.busday_offset(np.datetime64(sig["signal_date"]), -(days - 1), roll="backward")
    return make_window(
        close,
        open_=open_,
        high=high,
        low=low,
        trading_value=tv,
        foreign=flows_f,
        inst=flows_i,
        names=[sig["stock_name"]],
        markets=[sig["market"]],
        tickers=[sig["stock_code"]],
        start=str(start),
    )


@pytest.mark.parametrize("day", ["20260115", "20260116"])
def test_engine_end_to_end_reproduces_recorded_signals(shared_data: Path, day: str) -> None:
    """Run the whole engine on windows built from each recorded signal's inputs: every key the
    original wrote comes out identical."""
    policy = ClosingBetPolicy()
    for rec in _signals(shared_data, day):
        w = _golden_window(rec)
        assert str(w.dates[-1]) == rec["signal_date"]
        code = rec["stock_code"]
        run = run_closing_bet(
            w,
            policy,
            news={code: rec["news_items"]},
            llm={code: {"score": rec["score"]["news"], "reason": rec["score"]["llm_reason"]}},
        )
        (sig,) = run.signals
        for key, value in rec.items():
            assert sig[key] == value, (code, key)
