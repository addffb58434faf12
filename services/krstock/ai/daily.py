"""One day's AI analysis: the top signals per strategy, each judged on its fact sheet by the
model (or by rules), stored in ``ai_analyses`` in the monolith's document shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from krstock.ai.analyst import Analyst, Outcome
from krstock.ai.gemini import gemini_provider
from krstock.ai.limits import Limiter
from krstock.ai.openai_compat import openai_provider
from krstock.ai.sheets import signal_sheet
from krstock.ai.tasks import RECOMMENDATION
from krstock.config import Settings
from krstock.db.models import AIAnalysis, Signal

SECOND_SLOT = {
    "action": "N/A",
    "confidence": 0,
    "reason": "두 번째 모델(OpenAI)이 설정되지 않았습니다 — not configured",
    "source": "not-configured",
}


@dataclass
class DayReport:
    day: date
    analyzed: int = 0
    cached: int = 0
    rejected: int = 0
    failed: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        sources = sorted({i["source"] for i in self.items})
        return {
            "date": self.day.isoformat(),
            "analyzed": self.analyzed,
            "cached": self.cached,
            "rejected": self.rejected,
            "failed": self.failed,
            "source": "+".join(sources) if sources else "none",
            "items": self.items,
        }


_redis_clients: dict[str, Any] = {}


def _redis_client(url: str) -> Any:
    """One client (and connection pool) per URL for the life of the process: every scan and
    analysis run makes an analyst, and a pool per run would leak connections in a worker."""
    client = _redis_clients.get(url)
    if client is None:
        import redis as redis_lib

        client = _redis_clients[url] = redis_lib.Redis.from_url(url, socket_timeout=5)
    return client


def make_analyst(
    engine: Engine, settings: Settings, *, refresh: bool = False, redis: Any | None = None
) -> Analyst:
    """The analyst these settings configure: Gemini with the shared limits, or rules only."""
    provider = gemini_provider(settings)
    if provider is None:
        return Analyst(engine, settings, None, refresh=refresh)
    if redis is None and settings.redis_url:
        redis = _redis_client(settings.redis_url)
    return Analyst(
        engine, settings, provider, Limiter(settings, provider.name, redis), refresh=refresh
    )


def second_analyst(
    engine: Engine, settings: Settings, *, refresh: bool = False, redis: Any | None = None
) -> Analyst | None:
    """The OpenAI-compatible analyst for the second slot, when its key is configured."""
    provider = openai_provider(settings)
    if provider is None:
        return None
    if redis is None and settings.redis_url:
        redis = _redis_client(settings.redis_url)
    limiter = Limiter(settings, provider.name, redis)
    return Analyst(engine, settings, provider, limiter, refresh=refresh)


def top_signals(
    session: Session, day: date, strategies: tuple[str, ...], top_n: int
) -> list[Signal]:
    """The day's best signals of these strategy spellings, one per ticker (the monolith: 10)."""
    rows = session.scalars(
        select(Signal)
        .where(Signal.signal_date == day, Signal.strategy.in_(strategies))
        .order_by(Signal.score.desc().nulls_last(), Signal.ticker)
    )
    seen: dict[str, Signal] = {}
    for row in rows:
        seen.setdefault(row.ticker, row)
        if len(seen) >= top_n:
            break
    return list(seen.values())


def _slot(outcome: Outcome) -> dict[str, Any]:
    answer = outcome.answer.model_dump(mode="json")
    slot = {
        "action": answer["action"],
        "confidence": answer["confidence"],
        "reason": answer["reason"],
        "source": outcome.source,
        "claims": answer["claims"],
    }
    if outcome.status != "accepted":
        slot["note"] = f"{outcome.status}: {outcome.reason}" if outcome.reason else outcome.status
    return slot


def _store(
    session: Session,
    signal: Signal,
    label: str,
    outcome: Outcome,
    sheet: Any,
    second: Outcome | None = None,
) -> None:
    news = [
        {"id": f.id, "title": f.text, "url": f.url, "source": f.source, "date": str(f.day)}
        for f in sheet.news()
    ]
    slot = _slot(outcome)
    now = datetime.now(UTC)
    values = {
        "signal_id": signal.id,
        "ticker": signal.ticker,
        "signal_date": signal.signal_date,
        "analysis_source": outcome.source,
        "action": slot["action"],
        "confidence": float(slot["confidence"]),
        "reason": slot["reason"],
        "model": outcome.model,
        "recommendations": {"gemini": slot, "gpt": _slot(second) if second else SECOND_SLOT},
        "news": news,
        "payload": {
            "strategy": label,
            "grounded": outcome.grounded,
            "status": outcome.status,
            "note": outcome.reason,
            "facts": sheet.as_dict()["facts"],
            "ai_analysis": slot["reason"],
        },
        "generated_at": now,
    }
    stmt = insert(AIAnalysis).values(**values)
    update = {k: stmt.excluded[k] for k in values if k not in ("ticker", "signal_date")}
    session.execute(stmt.on_conflict_do_update(constraint="uq_ai_analyses_natural", set_=update))


def analyze_day(
    engine: Engine,
    settings: Settings,
    day: date,
    strategies: Mapping[str, tuple[str, ...]],
    *,
    refresh: bool = False,
    top_n: int | None = None,
    analyst: Analyst | None = None,
) -> DayReport:
    """Analyze the top signals of each strategy label (``{"vcp": ("vcp", ...)}``) on ``day``."""
    analyst = analyst or make_analyst(engine, settings, refresh=refresh)
    second = second_analyst(engine, settings, refresh=refresh)
    report = DayReport(day)
    limit = top_n or settings.ai.ai_top_n
    with Session(engine) as session:
        work = [
            (label, signal, signal_sheet(session, signal, label))
            for label, spellings in strategies.items()
            for signal in top_signals(session, day, spellings, limit)
        ]
    for label, signal, sheet in work:
        outcome = analyst.ask(RECOMMENDATION, sheet)
        other = second.ask(RECOMMENDATION, sheet) if second is not None else None
        with Session(engine) as session, session.begin():
            _store(session, signal, label, outcome, sheet, other)
        answer = outcome.answer.model_dump(mode="json")
        report.analyzed += 1
        report.cached += int(outcome.cached)
        report.rejected += int(outcome.status == "rejected")
        report.failed += int(outcome.status == "failed")
        report.items.append(
            {
                "ticker": signal.ticker,
                "strategy": label,
                "action": answer["action"],
                "source": outcome.source,
                "grounded": outcome.grounded,
                "reason": answer["reason"],
                "status": outcome.status,
                "cached": outcome.cached,
            }
        )
    return report
