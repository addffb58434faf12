"""Naver Search API news (``GET /v1/search/news.json``), keyed by the X-Naver-Client-Id/Secret
headers: the newest articles that mention a stock's name.

The API has no date filter, so this only reaches recent days; ``news_rank.select`` keeps those
in the window. It gives no press name either: the press comes from the article's domain.
"""

from __future__ import annotations

import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from krstock.marketdata.news_rank import (
    KST,
    Headline,
    NewsApiError,
    clean_text,
    credibility,
    press_for_url,
)

PROVIDER = "naver"
PATH = "/v1/search/news.json"
DISPLAY_MAX = 100  # the API's own cap per request


def parse_pub_date(raw: str | None) -> datetime | None:
    """RFC 1123 ``Fri, 04 Dec 2026 09:30:00 +0900`` in KST; None when absent or malformed."""
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # "-0000" or no zone: the API's zone is Korea's
        parsed = parsed.replace(tzinfo=KST)
    return parsed.astimezone(KST)


def parse_items(payload: Any, ticker: str) -> list[Headline]:
    """``items`` of a news.json answer as headlines about ``ticker``; malformed items dropped."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise NewsApiError(PROVIDER, "answer has no 'items' list")
    found: list[Headline] = []
    for item in payload["items"]:
        if not isinstance(item, dict):
            continue
        title = clean_text(item.get("title"))
        # The press's own address when Naver knows it, else Naver's copy of the article.
        url = str(item.get("originallink") or item.get("link") or "").strip()
        if not title or not url.startswith(("http://", "https://")):
            continue
        press = press_for_url(url) or press_for_url(str(item.get("link") or ""))
        source = press or (httpx.URL(url).host or "")
        found.append(
            Headline(
                ticker=ticker,
                title=title,
                url=url,
                source=source,
                summary=clean_text(item.get("description")),
                published_at=parse_pub_date(item.get("pubDate")),
                origin=PROVIDER,
                credibility=credibility(press),
            )
        )
    return found


def _error(response: httpx.Response) -> NewsApiError:
    """Naver's ``{"errorCode", "errorMessage"}`` as one line naming the problem."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = str(body.get("errorCode") or "") if isinstance(body, dict) else ""
    message = str(body.get("errorMessage") or "") if isinstance(body, dict) else ""
    status = response.status_code
    if status in (401, 403):
        what = "the client id or secret was refused (check KRSTOCK_NAVER_CLIENT_ID/SECRET)"
    elif status == 429:
        what = "over the request limit"
    else:
        what = f"HTTP {status}"
    detail = f" [{code}] {message}".rstrip() if code or message else ""
    return NewsApiError(
        PROVIDER,
        what + detail,
        code=code or None,
        rate_limited=status == 429,
        fatal=status in (401, 403, 429),
    )


class NaverNewsClient:
    """One long-lived HTTP client for the news search, paced to ``rate_per_s`` requests."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        base_url: str = "https://openapi.naver.com",
        timeout_s: float = 5.0,
        display: int = 30,
        rate_per_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.display = max(1, min(display, DISPLAY_MAX))
        self.interval_s = 1.0 / rate_per_s
        self._last = 0.0
        self.requests = 0
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            headers={"X-Naver-Client-Id": client_id, "X-Naver-Client-Secret": client_secret},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _pace(self) -> None:
        wait = self._last + self.interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()

    def search(self, query: str, ticker: str) -> list[Headline]:
        """The newest articles for ``query`` (sort=date) as headlines about ``ticker``."""
        self._pace()
        self.requests += 1
        try:
            response = self._http.get(
                PATH, params={"query": query, "display": self.display, "start": 1, "sort": "date"}
            )
        except httpx.HTTPError as exc:
            raise NewsApiError(PROVIDER, f"unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise _error(response)
        try:
            payload = response.json()
        except ValueError as exc:
            raise NewsApiError(PROVIDER, "answer is not JSON") from exc
        return parse_items(payload, ticker)
