"""The news collectors together: Naver Search and OpenDART when keyed, the Naver Finance page only
when opted in (and only for tickers the search could not serve), one ranking over all of them.

``collect(day, names)`` returns the selected rows (``NEWS_COLUMNS`` + credibility; ``origin``
says which provider served each) and a report per provider: requests, items, kept, error.
A provider that fails is reported and skipped, never replaced by made-up items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from krstock.config import NewsSection
from krstock.marketdata.base import NEWS_COLUMNS
from krstock.marketdata.news_dart import DartClient
from krstock.marketdata.news_html import NaverFinanceHtml
from krstock.marketdata.news_naver import NaverNewsClient
from krstock.marketdata.news_rank import (
    KST,
    TOP_PER_TICKER,
    WINDOW_DAYS,
    Headline,
    NewsApiError,
    select,
    window_bounds,
)

FRAME_COLUMNS = [*NEWS_COLUMNS, "credibility"]
# How far back the search (newest first, no date filter) can serve a day's window.
SEARCH_REACH_DAYS = 7
# Consecutive failures (timeouts, 5xx) after which a provider is not asked again this run.
MAX_CONSECUTIVE_FAILURES = 3
NO_KEYS = (
    "no news API keys (KRSTOCK_NAVER_CLIENT_ID/KRSTOCK_NAVER_CLIENT_SECRET, "
    "KRSTOCK_DART_API_KEY) and the HTML fallback is off"
)


@dataclass
class ProviderReport:
    requests: int = 0
    items: int = 0  # answered, before the window and the ranking
    kept: int = 0  # stored after the ranking
    error: str | None = None
    rate_limited: bool = False
    truncated: bool = False
    skipped: str | None = None  # why the provider was not asked


def _mentions(item: Headline, name: str) -> bool:
    """The search matches words anywhere in an article; keep those that name the company."""
    wanted = name.replace(" ", "").lower()
    return wanted in (item.title + item.summary).replace(" ", "").lower()


class NewsFeed:
    def __init__(
        self,
        naver: NaverNewsClient | None = None,
        dart: DartClient | None = None,
        html: NaverFinanceHtml | None = None,
        *,
        window_days: int = WINDOW_DAYS,
        top: int = TOP_PER_TICKER,
        today: Callable[[], date] = lambda: datetime.now(KST).date(),
    ) -> None:
        self.naver, self.dart, self.html = naver, dart, html
        self.today = today  # the KST date now (tests pin it)
        self.window_days = window_days
        self.top = top

    @property
    def providers(self) -> list[str]:
        named = (("naver", self.naver), ("dart", self.dart), ("naver-html", self.html))
        return [name for name, client in named if client is not None]

    @property
    def enabled(self) -> bool:
        return bool(self.providers)

    def close(self) -> None:
        for client in (self.naver, self.dart, self.html):
            if client is not None:
                client.close()

    def collect(self, day: date, names: dict[str, str]) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Items about ``names`` (ticker -> company name, "" when unknown: no search then) in the
        window up to ``day``: the top ``top`` per ticker over every provider."""
        reports = {name: ProviderReport() for name in self.providers}
        found: list[Headline] = []
        unserved = set(names)  # tickers the search did not answer for (the HTML fallback's)
        age = (self.today() - day).days
        if self.naver is not None and age > SEARCH_REACH_DAYS:
            reports["naver"].skipped = (
                f"{day} is {age} days ago: the search has no date filter and returns only the "
                "newest articles"
            )
        elif self.naver is not None:
            served = self._search(names, reports["naver"], found)
            unserved -= served
        if self.dart is not None and names:
            start = window_bounds(day, self.window_days)[0].date()
            report = reports["dart"]
            try:
                items = self.dart.filings(start, day, names)
                report.items += len(items)
                found += items
            except NewsApiError as exc:
                report.error, report.rate_limited = str(exc), exc.rate_limited
            report.requests = self.dart.requests
            report.truncated = self.dart.truncated
        if self.html is not None:
            self._scrape(sorted(unserved), reports["naver-html"], found)
        kept = select(found, day, self.window_days, self.top)
        for item in kept:
            reports[item.origin].kept += 1
        frame = pd.DataFrame([item.row() for item in kept], columns=FRAME_COLUMNS)
        start = window_bounds(day, self.window_days)[0]
        summary = {
            "day": day.isoformat(),
            "window": [start.date().isoformat(), day.isoformat()],
            "tickers": len(names),
            "kept": len(kept),
            "providers": {name: asdict(report) for name, report in reports.items()},
        }
        return frame, summary

    def _search(
        self, names: dict[str, str], report: ProviderReport, found: list[Headline]
    ) -> set[str]:
        assert self.naver is not None
        served: set[str] = set()
        failures = 0
        for ticker, name in sorted(names.items()):
            if not name.strip():  # the search needs a company name (DART and the page do not)
                continue
            try:
                items = [i for i in self.naver.search(name, ticker) if _mentions(i, name)]
            except NewsApiError as exc:
                report.error, report.rate_limited = str(exc), exc.rate_limited
                failures += 1
                # A refused key or the daily limit will not change within this run.
                if exc.fatal or failures >= MAX_CONSECUTIVE_FAILURES:
                    break
                continue
            failures = 0
            served.add(ticker)
            report.items += len(items)
            found += items
        report.requests = self.naver.requests
        return served

    def _scrape(self, tickers: list[str], report: ProviderReport, found: list[Headline]) -> None:
        assert self.html is not None
        failures = 0
        for ticker in tickers:
            try:
                items = self.html.headlines(ticker)
            except NewsApiError as exc:
                report.error = str(exc)
                failures += 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    break
                continue
            failures = 0
            report.items += len(items)
            found += items
        report.requests = self.html.requests


def news_feed_from_settings(news: NewsSection) -> NewsFeed:
    """The collectors ``news`` configures (none without keys or the opt-in)."""
    naver = dart = html = None
    if news.naver_client_id and news.naver_client_secret:
        naver = NaverNewsClient(
            news.naver_client_id.get_secret_value(),
            news.naver_client_secret.get_secret_value(),
            base_url=news.naver_api_base_url,
            timeout_s=news.news_timeout_s,
            rate_per_s=news.news_rate_per_s,
        )
    if news.dart_api_key:
        dart = DartClient(
            news.dart_api_key.get_secret_value(),
            base_url=news.dart_api_base_url,
            timeout_s=news.news_timeout_s,
            max_pages=news.dart_max_pages,
            rate_per_s=news.news_rate_per_s,
        )
    if news.news_html_fallback:
        html = NaverFinanceHtml(base_url=news.naver_finance_base_url, timeout_s=news.news_timeout_s)
    return NewsFeed(naver, dart, html)
