"""A seeded day of signals with news for the AI tests, and settings pointing at a fake Gemini."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import NamedTuple

from helpers.fake_gemini import FakeGemini
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from krstock.config import Settings
from krstock.db.models import DailyPrice, NewsItem, Signal, Stock
from krstock.marketdata.sample import SampleMarket

DAY = date(2026, 2, 5)
NEXT = date(2026, 2, 6)
# ticker, name, close, next close, score, foreign 5d, inst 5d
STOCKS = [
    ("005930", "삼성전자", 50_000, 51_000, 82.5, 120_000, 30_000),
    ("000660", "SK하이닉스", 200_000, 196_000, 64.0, -5_000, -7_000),
    ("035720", "카카오", 40_000, 40_400, 75.0, 8_000, -2_000),
]
NEWS = {
    "005930": [
        ("삼성전자, 2,000억원 규모 공급계약 체결", "연합뉴스", datetime(2026, 2, 5, 1, tzinfo=UTC)),
        ("삼성전자 4분기 적자 축소", "한국경제", datetime(2026, 2, 4, 3, 0, tzinfo=UTC)),
        # After the signal day (KST): must never reach a fact sheet.
        ("삼성전자 미래 기사", "뉴스1", datetime(2026, 2, 7, 1, 0, tzinfo=UTC)),
    ],
    "000660": [
        ("SK하이닉스, 전환사채 발행 결정", "이데일리", datetime(2026, 2, 5, 2, 0, tzinfo=UTC)),
    ],
}


class CollectedMarket(NamedTuple):
    """A synthetic market collected into a test database (the ``sample_market`` fixture)."""

    engine: Engine
    url: str
    sample: SampleMarket


def seed_day(engine: Engine, strategy: str = "vcp-legacy") -> None:
    with Session(engine) as session, session.begin():
        for ticker, name, close, next_close, score, foreign, inst in STOCKS:
            session.merge(Stock(ticker=ticker, name=name, market="KOSPI"))
            for day, price in ((DAY, close), (NEXT, next_close)):
                session.merge(
                    DailyPrice(
                        ticker=ticker,
                        date=day,
                        open=price,
                        high=price,
                        low=price,
                        close=price,
                        volume=1_000,
                        trading_value=price * 1_000_000,
                        change_pct=2.5,
                    )
                )
            session.add(
                Signal(
                    strategy=strategy,
                    ticker=ticker,
                    signal_date=DAY,
                    status="OPEN",
                    score=score,
                    entry_price=float(close),
                    foreign_5d=foreign,
                    inst_5d=inst,
                    flow_unit="shares",
                )
            )
            for i, (title, source, when) in enumerate(NEWS.get(ticker, [])):
                session.add(
                    NewsItem(
                        ticker=ticker,
                        title=title,
                        url=f"https://n.news.naver.com/article/001/{ticker}{i}",
                        source=source,
                        published_at=when,
                        origin="naver",
                    )
                )


def gemini_settings(fake: FakeGemini, redis_url: str | None, **more: object) -> Settings:
    options: dict[str, object] = {
        "gemini_api_key": fake.api_key,
        "gemini_base_url": fake.url,
        "gemini_timeout_ms": 3_000,
        "gemini_retry_attempts": 1,
        "redis_url": redis_url,
        "redis_prefix": f"krstock-test-ai-{uuid.uuid4().hex[:12]}",  # fresh limits and budgets
        "llm_requests_per_min": 600,
        "llm_max_wait_s": 10,
    }
    options.update(more)
    return Settings(**options)  # type: ignore[arg-type]
