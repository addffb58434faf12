"""`krstock eval ai`'s numbers from stored rows: hit rate and mean next-day return by action
and the news score's rank correlation (the news-variant backtest: test_news_backtest.py)."""

from __future__ import annotations

from datetime import date

import pytest
from ai_seed import DAY, seed_day
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from krstock.ai.daily import analyze_day
from krstock.ai.evaluation import evaluate, spearman
from krstock.config import Settings
from krstock.db.models import Signal

pytestmark = pytest.mark.integration
# ticker: (news component, LLM score, lexicon score); next-day returns +2%, -2%, +1%.
JUDGED = {"005930": (3, 3, 2), "000660": (1, 0, 0), "035720": (2, 2, 0)}


def test_evaluation_from_stored_analyses_and_closing_bets(db_engine: Engine) -> None:
    seed_day(db_engine, strategy="closing-bet")
    with Session(db_engine) as session, session.begin():
        for ticker, (news, llm, lexicon) in JUDGED.items():
            session.execute(
                update(Signal)
                .where(Signal.ticker == ticker)
                .values(
                    score_breakdown={"news": news},
                    payload={
                        "news_items": [{"title": "t"}],
                        "news_judgement": {"model_score": llm, "lexicon_score": lexicon},
                    },
                )
            )
    analyze_day(db_engine, Settings(gemini_api_key=None), DAY, {"closing-bet": ("closing-bet",)})

    report = evaluate(db_engine, date(2026, 1, 1), ("closing-bet",))
    rows = {(r["source"], r["action"]): r for r in report["by_action"]}
    buy = rows[("rules", "BUY")]  # 005930 and 035720: score >= 70, foreign buying; +2%, +1%
    assert (buy["n"], buy["hit_rate"], buy["mean_next_day_return_pct"]) == (2, 1.0, 1.5)
    assert rows[("rules", "SELL")]["mean_next_day_return_pct"] == pytest.approx(-2.0)
    cb = report["closing_bet"]
    assert cb["news_score_vs_next_day"] == {"n": 3, "spearman": 1.0}

    # Nothing after the cutoff: nothing counted.
    later = evaluate(db_engine, date(2026, 3, 1), ("closing-bet",))
    assert later["by_action"] == []
    assert later["closing_bet"]["news_score_vs_next_day"] == {"n": 0, "spearman": None}


def test_spearman_needs_three_pairs_and_spread() -> None:
    assert spearman([1, 2], [1, 2]) is None
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0
