"""The closing-bet news component's judge: for each candidate with news, the model's 0–3
score on its fact sheet when an LLM is configured, the monolith's keyword path otherwise.

``KRSTOCK_AI_NEWS_SOURCE``: ``auto`` (the model when a key is set), ``llm``, or ``rules`` (the
lexicon's score is used). A model answer that was rejected or failed is not used: that
candidate gets the keyword path (1 if any news), and its record says why. Every scored
candidate gets a record (source, scores, reason, status) stored with its signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Engine

from krstock.ai import rules
from krstock.ai.analyst import Analyst
from krstock.ai.daily import make_analyst
from krstock.ai.facts import FactSheet
from krstock.ai.gemini import gemini_key
from krstock.ai.sheets import candidate_sheet
from krstock.ai.tasks import NEWS
from krstock.config import Settings
from krstock.db.session import make_engine

NewsByTicker = Mapping[str, Sequence[Mapping[str, Any]]]
# (ticker, name, figures of the day) of one closing-bet candidate.
Candidate = tuple[str, str, Mapping[str, Any]]
Judged = tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]


class JudgesNews(Protocol):
    """What a closing-bet scan asks of a news judge (live: :class:`NewsJudge`; the evaluation's
    replays: :mod:`krstock.ai.news_replay`)."""

    def judge(self, day: date, candidates: Sequence[Candidate], news: NewsByTicker) -> Judged:
        """(scores for the engine's ``llm`` argument, a record per candidate with news)."""


def lexicon(sheet: FactSheet) -> dict[str, Any]:
    """The rule lexicon's 0–3 judgement of a candidate's news, as a record."""
    judged = rules.news_judgement(sheet)
    return {"lexicon_score": judged.score, "lexicon_reason": judged.reason}


class NewsJudge:
    def __init__(self, settings: Settings, analyst: Analyst) -> None:
        self.settings = settings
        self.analyst = analyst

    @property
    def mode(self) -> str:
        wanted = self.settings.ai.ai_news_source
        if wanted == "rules":
            return "rules"
        return "llm" if self.analyst.provider is not None else "keyword"

    def judge(self, day: date, candidates: Sequence[Candidate], news: NewsByTicker) -> Judged:
        """(scores for the engine's ``llm`` argument, a record per candidate with news)."""
        scores: dict[str, dict[str, Any]] = {}
        records: dict[str, dict[str, Any]] = {}
        mode = self.mode
        for ticker, name, figures in candidates:
            items = list(news.get(ticker, ()))
            if not items:
                continue  # no news: the component is 0 and no model is asked (the monolith)
            sheet = candidate_sheet(ticker, name, day, figures, items)
            record = lexicon(sheet)
            if mode == "rules":
                reason = record["lexicon_reason"]
                scores[ticker] = {"score": record["lexicon_score"], "reason": reason}
                record.update(source="rules", status="rules", reason=reason)
            elif mode == "llm":
                outcome = self.analyst.ask(NEWS, sheet)
                record.update(
                    source=outcome.source,
                    status=outcome.status,
                    cached=outcome.cached,
                    grounded=outcome.grounded,
                    note=outcome.reason,
                )
                if outcome.status == "accepted":
                    answer = outcome.answer.model_dump(mode="json")
                    scores[ticker] = {"score": answer["score"], "reason": answer["reason"]}
                    record.update(model_score=answer["score"], reason=answer["reason"])
                else:
                    record.update(source="rules", reason="keyword path: 1 if any news")
            else:
                record.update(
                    source="rules", status="keyword", reason="no LLM configured: 1 if any news"
                )
            records[ticker] = record
        return scores, records


_cache_engines: dict[str, Engine] = {}


def news_judge(engine: Engine, settings: Settings) -> NewsJudge:
    """The judge for a scan on ``engine``. With a model it needs the LLM-call cache while the
    scan holds its own connection, so it writes through a one-connection engine of its own
    (a scan engine may be a single connection: sharing it would wait on itself)."""
    if gemini_key(settings) is None:
        return NewsJudge(settings, make_analyst(engine, settings))
    url = engine.url.render_as_string(hide_password=False)
    own = _cache_engines.get(url)
    if own is None:
        own = _cache_engines[url] = make_engine(url, settings, pool_size=1, max_overflow=0)
    return NewsJudge(settings, make_analyst(own, settings))
