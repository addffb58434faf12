"""The closing-bet backtest with the news component judged three ways, side by side: the
model's stored judgements (``llm``), the rule lexicon (``rules``) and the monolith without an
LLM ("1 if any news", ``any_news``). Part of ``krstock eval ai``.

Each variant replays the live closing-bet strategy day by day after the model's knowledge
cutoff (earlier days may be in its training data), with the news that was stored for that day
(the live scan's 2-day window) — so a different news score changes the total, the grade, the
position cap and therefore which trades exist, and the trades are then exited by the
strategy's own rule. Nothing is written and no model is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from krstock.ai.news_replay import (
    AnyNewsJudge,
    LexiconJudge,
    ReplayJudge,
    StoredModelJudge,
    stored_news_scores,
)
from krstock.app import catalogue
from krstock.app.backtests import replay_inputs
from krstock.app.catalogue import NewsByTicker, ScanContext, Strategy
from krstock.app.finite import finite
from krstock.app.kinds import RunKind
from krstock.app.policies import PolicyLike, resolve_policy
from krstock.app.scans import NEWS_LOOKBACK_DAYS
from krstock.db.reader import recent_news, trading_days
from krstock.domain.backtest import ScanFn
from krstock.domain.backtest import run_backtest as replay_backtest
from krstock.domain.market import MarketWindow
from krstock.domain.policy import SignalPolicy

VARIANTS = ("llm", "rules", "any_news")
SUMMARY_KEYS = (
    "trades",
    "win_rate",
    "avg_return_pct",
    "total_return_compounded_pct",
    "max_drawdown_pct",
    "profit_factor",
    "open_trades",
)


def _day_of(window: MarketWindow) -> date:
    return date.fromisoformat(str(window.dates[-1].astype("datetime64[D]")))


class NewsOfTheDay:
    """The stored news of a replayed day's candidates, read once and shared by the variants
    (the candidates do not depend on the news)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.days: dict[date, NewsByTicker] = {}

    def __call__(self, day: date, tickers: Sequence[str]) -> NewsByTicker:
        if day not in self.days:
            self.days[day] = recent_news(self.conn, day, tickers, NEWS_LOOKBACK_DAYS)
        return self.days[day]


def _replay_scan(
    live: Strategy, policy: SignalPolicy, news_of: NewsOfTheDay, judge: ReplayJudge
) -> ScanFn:
    """The live strategy on a replayed day, with that day's stored news judged by ``judge``."""

    def scan(window: MarketWindow) -> list[dict[str, Any]]:
        news = news_of(_day_of(window), live.news_tickers(window, policy))
        rows = live.entries(window, policy, ScanContext(news=news, news_judge=judge))
        return [dict(row) for row in rows]

    return scan


def _variant_report(result: dict[str, Any], judge: ReplayJudge) -> dict[str, Any]:
    summary = result["summary"]
    report: dict[str, Any] = {key: summary.get(key) for key in SUMMARY_KEYS}
    report["alpha_pct"] = result.get("alpha_pct")
    report["by_grade"] = {
        grade: {k: stats[k] for k in ("trades", "win_rate", "avg_return_pct")}
        for grade, stats in result["by_grade"].items()
    }
    # How each candidate with news was judged: model (a stored judgement), rules (lexicon),
    # keyword (1 if any news, also the model variant's fallback where the model never judged).
    report["news_judged"] = dict(sorted(judge.counts.items()))
    if isinstance(judge, StoredModelJudge):
        report["models"] = dict(judge.models)
    report["entries"] = [
        {
            "date": t["signal_date"],
            "ticker": t["ticker"],
            "grade": t["grade"],
            "net_return_pct": t["net_return_pct"],
        }
        for t in sorted(result["trades"], key=lambda t: (t["signal_date"], t["ticker"]))
    ]
    return report


def news_variant_backtests(
    engine: Engine,
    cutoff: date,
    *,
    end: date | None = None,
    policy: PolicyLike = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The three variants' backtests over the trading days after ``cutoff`` up to ``end``
    (default: the newest day with prices). Empty, with the reason, when there is none."""
    resolved = resolve_policy(policy)
    live = catalogue.strategy(RunKind.CLOSING_BET)
    start = cutoff + timedelta(days=1)
    report: dict[str, Any] = {"after": cutoff.isoformat(), "policy": resolved.name}
    with engine.connect() as conn:
        newest = trading_days(conn, end or date.max, 1)
        last = date.fromisoformat(str(newest[0])) if len(newest) else None
        if last is None or last < start:
            report.update(days=0, variants={}, empty="no trading day with prices after the cutoff")
            return report
        try:
            inputs = replay_inputs(conn, live, start, last)
        except LookupError as exc:
            report.update(days=0, variants={}, empty=str(exc))
            return report
        stored = stored_news_scores(conn, start, last)
        news_of = NewsOfTheDay(conn)
        judges: dict[str, ReplayJudge] = {
            "llm": StoredModelJudge(stored),
            "rules": LexiconJudge(),
            "any_news": AnyNewsJudge(),
        }
        variants: dict[str, Any] = {}
        for name in VARIANTS:
            if progress is not None:
                progress(f"closing-bet backtest, news from {name}: {inputs.days} days")
            result = replay_backtest(
                inputs.window,
                _replay_scan(live, resolved, news_of, judges[name]),
                strategy=str(RunKind.CLOSING_BET),
                exit_rule="closing_bet",
                tracking=resolved.tracking,
                start=start,
                end=last,
                benchmark=inputs.benchmark,
            )
            variants[name] = _variant_report(result, judges[name])
            report.update(start=result["start"], end=result["end"], days=result["days"])
    report["variants"] = variants
    report["stored_model_judgements"] = len(stored)
    if not stored:
        report["note"] = (
            "no accepted model judgements stored after the cutoff: the llm variant is the "
            "keyword path throughout (configure a model and run the daily scans)"
        )
    return finite(report)
