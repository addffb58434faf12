"""The closing-bet backtest with news from the model vs the lexicon vs "1 if any news"
(`krstock eval ai`): the live strategy replayed on a collected synthetic market with its stored
news, the model variant answering only from judgements a live scan stored through the real
SDK (the loopback fake), and no model call during the replay."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ai_seed import CollectedMarket
from helpers.fake_gemini import FakeGemini, json_answer
from sqlalchemy import Engine, text

from krstock.app.news_backtest import news_variant_backtests
from krstock.app.runs import run_scan
from krstock.config import get_settings
from krstock.domain.policy import SignalPolicy

pytestmark = pytest.mark.integration
# No cap on positions (a removed trade must not make room for another), and no "two news
# items make a 0 a 1" floor, so a model's 0 keeps a candidate out.
POLICY = SignalPolicy.preset("monolith").merged(
    {"closing_bet": {"max_positions": 20, "news_llm_floor_min_items": 99}}
)
BAD_NEWS = {"score": 0, "reason": "N1 뉴스는 악재", "evidence": ["N1"]}
KRSTOCK = str(Path(sys.executable).with_name("krstock"))


def _judged_by_model(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT ticker, signal_date FROM llm_calls "
                "WHERE purpose = 'news' AND outcome = 'accepted'"
            )
        ).all()
    return {(r.signal_date.isoformat(), r.ticker) for r in rows}


def _entries(variant: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["date"], e["ticker"]) for e in variant["entries"]}


def test_news_variants_replay_the_strategy_from_stored_judgements(
    sample_market: CollectedMarket, gemini_settings: FakeGemini
) -> None:
    engine, url, sample = sample_market
    fake_gemini = gemini_settings
    days = sorted({r.date for r in sample.planted_records if r.kind == "closing_bet"})
    assert len(days) >= 3, "the synthetic market plants closing bets on several days"
    cutoff = days[0] - timedelta(days=1)
    # Live scans of the last two planted days with the model configured: it calls every
    # candidate's news bad, and those judgements are stored.
    fake_gemini.script(*[json_answer(BAD_NEWS) for _ in range(120)])
    for day in days[-2:]:
        run_scan(engine, kind="closing-bet", day=day, policy=POLICY)
    asked = len(fake_gemini.generate_requests)
    judged = _judged_by_model(engine)
    assert asked > 0 and judged

    report = news_variant_backtests(engine, cutoff, policy=POLICY)

    assert len(fake_gemini.generate_requests) == asked  # a replay never calls the model
    assert report["start"] == days[0].isoformat() and report["days"] > 20
    llm, rules, any_news = (report["variants"][k] for k in ("llm", "rules", "any_news"))
    # Every day with news is judged in each variant: the same candidates, counted by how.
    with_news = sum(any_news["news_judged"].values())
    assert with_news == sum(llm["news_judged"].values()) == rules["news_judged"]["rules"]
    assert set(any_news["news_judged"]) == {"keyword"}
    assert llm["news_judged"]["model"] == len(judged) == report["stored_model_judgements"]
    assert llm["news_judged"]["keyword"] == with_news - len(judged)
    assert list(llm["models"]) == [f"gemini/{get_settings().ai.gemini_model}"]

    # The model's 0 fails the mandatory news gate: its variant trades what "any news" trades,
    # minus exactly the candidates the model judged — and that removes real trades.
    baseline = _entries(any_news)
    assert baseline & judged, "the judged days had trades with any news"
    assert _entries(llm) == baseline - judged
    for variant in (llm, rules, any_news):  # closed trades in the metrics, open ones counted
        assert variant["trades"] + variant["open_trades"] == len(variant["entries"])
    assert llm["trades"] < any_news["trades"]

    # The command prints the same backtest; after the last day there is nothing to replay.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRSTOCK_", "GEMINI"))}
    env["KRSTOCK_DATABASE_URL"] = url
    args = [KRSTOCK, "eval", "ai", "--after", cutoff.isoformat()]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "closing-bet backtest" in done.stdout and "any_news" in done.stdout
    assert f"model {len(judged)}" in done.stdout
    late = news_variant_backtests(engine, sample.end + timedelta(days=1), policy=POLICY)
    assert late["days"] == 0 and late["variants"] == {}
    assert late["empty"] == "no trading day with prices after the cutoff"
