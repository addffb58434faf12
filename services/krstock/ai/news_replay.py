"""News judges for replaying past closing-bet days (``krstock eval ai``): the model's stored
judgements, the rule lexicon, and "1 if any news". None of them calls a model — a replay must
cost nothing — so the model variant answers only from accepted judgements in ``llm_calls``;
a candidate the model never judged takes the keyword path (1 if any news), as a live scan
does when the model's answer was rejected, and is counted so the report can say how much of
the variant is really the model's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from krstock.ai.news_judge import Candidate, Judged, NewsByTicker, lexicon
from krstock.ai.sheets import candidate_sheet
from krstock.ai.tasks import NEWS

# The newest accepted news judgement per (ticker, day): one query for the whole replay.
_STORED = text(
    """
    SELECT DISTINCT ON (ticker, signal_date)
           ticker, signal_date, provider, model, (parsed->>'score')::int AS score,
           parsed->>'reason' AS reason
    FROM llm_calls
    WHERE purpose = :purpose AND outcome = 'accepted' AND parsed ? 'score'
      AND signal_date BETWEEN :start AND :end
    ORDER BY ticker, signal_date, created_at DESC
    """
)

StoredScores = Mapping[tuple[str, date], Mapping[str, Any]]
Items = Sequence[Mapping[str, Any]]
# (the engine's ``llm`` entry, or None for the keyword path; the record of how it was judged)
Scored = tuple[dict[str, Any] | None, dict[str, Any]]


def stored_news_scores(conn: Connection, start: date, end: date) -> dict[tuple[str, date], dict]:
    """(ticker, day) → {score, reason, provider, model} of the newest accepted judgement."""
    rows = conn.execute(_STORED, {"purpose": NEWS.purpose, "start": start, "end": end}).all()
    return {
        (r.ticker, r.signal_date): {
            "score": r.score,
            "reason": r.reason,
            "provider": r.provider,
            "model": r.model,
        }
        for r in rows
    }


class ReplayJudge:
    """Counts what it judged and how: ``counts["model"]``, ``["keyword"]``, ``["rules"]``."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def judge(self, day: date, candidates: Sequence[Candidate], news: NewsByTicker) -> Judged:
        scores: dict[str, dict[str, Any]] = {}
        records: dict[str, dict[str, Any]] = {}
        for ticker, name, figures in candidates:
            items = news.get(ticker, ())
            if not items:
                continue  # no news: the component is 0 in every variant (the monolith)
            score, record = self.score(day, (ticker, name, figures), items)
            if score is not None:
                scores[ticker] = score
            records[ticker] = record
            self.counts[record["status"]] += 1
        return scores, records

    def score(self, day: date, candidate: Candidate, items: Items) -> Scored:
        """The keyword path: the engine scores 1 for any news."""
        return None, {"source": "rules", "status": "keyword", "reason": "1 if any news"}


class AnyNewsJudge(ReplayJudge):
    """The monolith without an LLM: the news component is 1 whenever there is news."""


class LexiconJudge(ReplayJudge):
    """The rule lexicon's 0–3 score (the live judge's ``rules`` mode)."""

    def score(self, day: date, candidate: Candidate, items: Items) -> Scored:
        ticker, name, figures = candidate
        record = lexicon(candidate_sheet(ticker, name, day, figures, items))
        score = {"score": record["lexicon_score"], "reason": record["lexicon_reason"]}
        return score, {**record, "source": "rules", "status": "rules"}


class StoredModelJudge(ReplayJudge):
    """The model's accepted judgement stored for that ticker and day; the keyword path where
    the model never judged it."""

    def __init__(self, stored: StoredScores) -> None:
        super().__init__()
        self.stored = stored
        self.models: Counter[str] = Counter()

    def score(self, day: date, candidate: Candidate, items: Items) -> Scored:
        hit = self.stored.get((candidate[0], day))
        if hit is None:
            return super().score(day, candidate, items)
        self.models[f"{hit['provider']}/{hit['model']}"] += 1
        score = {"score": hit["score"], "reason": hit["reason"] or ""}
        return score, {"source": hit["provider"], "status": "model", "model_score": hit["score"]}
