"""News items from any collector, and the monolith's selection: a 2-day window, de-duplication by
title, ranking by source credibility then recency, the top 3 per ticker (monolith.md §4.7).

Collectors (``news_naver``, ``news_dart``, ``news_html``) turn their answers into ``Headline``s;
this module only cleans, weighs and selects them, so every provider is ranked the same way.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from krstock.marketdata.base import SourceError

KST = ZoneInfo("Asia/Seoul")
WINDOW_DAYS = 2
TOP_PER_TICKER = 3
DEFAULT_CREDIBILITY = 0.5  # the monolith's "anything else"

# The monolith's weights, by press name.
CREDIBILITY: dict[str, float] = {
    "연합뉴스": 0.95,
    "한국경제": 0.9,
    "매일경제": 0.9,
    "머니투데이": 0.85,
    "이데일리": 0.85,
    "서울경제": 0.85,
    "조선비즈": 0.85,
    "동아일보": 0.85,
    "중앙일보": 0.85,
    "조선일보": 0.85,
    "아시아경제": 0.8,
    "파이낸셜뉴스": 0.8,
    "헤럴드경제": 0.8,
    "뉴스1": 0.8,
    "뉴시스": 0.8,
}
# Press by web domain: Naver's search API gives the article's address, not its press name.
# Longest suffix wins (biz.chosun.com is 조선비즈, chosun.com 조선일보).
PRESS_DOMAINS: dict[str, str] = {
    "yna.co.kr": "연합뉴스",
    "yonhapnews.co.kr": "연합뉴스",
    "hankyung.com": "한국경제",
    "mk.co.kr": "매일경제",
    "mt.co.kr": "머니투데이",
    "edaily.co.kr": "이데일리",
    "sedaily.com": "서울경제",
    "biz.chosun.com": "조선비즈",
    "chosunbiz.com": "조선비즈",
    "donga.com": "동아일보",
    "joongang.co.kr": "중앙일보",
    "chosun.com": "조선일보",
    "asiae.co.kr": "아시아경제",
    "fnnews.com": "파이낸셜뉴스",
    "heraldcorp.com": "헤럴드경제",
    "news1.kr": "뉴스1",
    "newsis.com": "뉴시스",
}
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"\W+")


class NewsApiError(SourceError):
    """A news provider refused or failed; ``rate_limited`` when it said "over the limit",
    ``fatal`` when no further request can succeed this run (a refused key, the limit)."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        code: str | None = None,
        rate_limited: bool = False,
        fatal: bool = False,
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.code = code
        self.rate_limited = rate_limited
        self.fatal = fatal or rate_limited


@dataclass(frozen=True)
class Headline:
    """One item about one ticker, as stored in ``news_items`` (plus its rank inputs).

    ``source`` is the press (or "DART"); ``origin`` the provider that served it
    ("naver", "dart", "naver-html")."""

    ticker: str
    title: str
    url: str
    source: str
    summary: str
    published_at: datetime | None
    origin: str
    credibility: float

    def row(self) -> dict[str, object]:
        return {
            "ticker": self.ticker,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "summary": self.summary,
            "published_at": self.published_at,
            "origin": self.origin,
            "credibility": self.credibility,
        }


def clean_text(raw: str | None) -> str:
    """Markup out (Naver's ``<b>`` highlights), entities decoded (``&quot;``, ``&amp;``),
    whitespace collapsed. Tags go first so an escaped ``&lt;b&gt;`` stays visible text."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub("", raw or ""))).strip()


def press_for_url(url: str) -> str | None:
    """The press name of a known news domain, else None."""
    host = (urlsplit(url).hostname or "").lower()
    best: tuple[int, str] | None = None
    for domain, press in PRESS_DOMAINS.items():
        if (host == domain or host.endswith("." + domain)) and (
            best is None or len(domain) > best[0]
        ):
            best = (len(domain), press)
    return best[1] if best else None


def credibility(source: str | None) -> float:
    return CREDIBILITY.get((source or "").strip(), DEFAULT_CREDIBILITY)


def title_key(title: str) -> str:
    """What two titles must share to be one story: their word characters (the monolith's)."""
    return _NON_WORD.sub("", title).lower()


def window_bounds(day: date, days: int = WINDOW_DAYS) -> tuple[datetime, datetime]:
    """[start, end) of the ``days`` KST calendar days up to ``day`` (as ``recent_news`` reads)."""
    start = datetime.combine(day - timedelta(days=days - 1), time.min, tzinfo=KST)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=KST)


def in_window(published: datetime | None, day: date, days: int = WINDOW_DAYS) -> bool:
    """Dated inside the window. Undated items and items dated after ``day`` (a future pubDate)
    are out: an item must be provably on or before the day it is used for."""
    if published is None:
        return False
    start, end = window_bounds(day, days)
    return start <= published < end


def select(
    items: Iterable[Headline],
    day: date,
    days: int = WINDOW_DAYS,
    top: int = TOP_PER_TICKER,
) -> list[Headline]:
    """Per ticker: the items in the window, one per story (title) and per URL, the ``top`` most
    credible, the most recent first among equals. Ordered by ticker, then rank."""
    ranked = sorted(
        (item for item in items if in_window(item.published_at, day, days)),
        key=lambda h: (h.ticker, -h.credibility, -(h.published_at or _EPOCH).timestamp()),
    )
    kept: list[Headline] = []
    seen: dict[str, tuple[set[str], set[str], list[Headline]]] = {}
    for item in ranked:
        titles, urls, chosen = seen.setdefault(item.ticker, (set(), set(), []))
        key = title_key(item.title)
        if not key or key in titles or item.url in urls or len(chosen) >= top:
            continue
        titles.add(key)
        urls.add(item.url)
        chosen.append(item)
        kept.append(item)
    return kept


_EPOCH = datetime(1970, 1, 1, tzinfo=KST)
