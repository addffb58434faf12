"""Opt-in fallback (``KRSTOCK_NEWS_HTML_FALLBACK``): the Naver Finance stock news page the
monolith scraped (``/item/news_news.naver?code=…``, rows of ``table.type5``).

The page is HTML made for browsers and changes without notice, so it is off by default and only
used for a ticker the API collectors could not serve. Rows it cannot read are skipped.
"""

from __future__ import annotations

import time
from datetime import datetime
from html.parser import HTMLParser

import httpx

from krstock.marketdata.news_rank import KST, Headline, NewsApiError, clean_text, credibility

PROVIDER = "naver-html"
PATH = "/item/news_news.naver"


class _Rows(HTMLParser):
    """(href, title, press, date text) of each row with ``td.title``, ``td.info`` and ``td.date``
    inside a ``table.type5``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[tuple[str, str, str, str]] = []
        self._depth = 0  # nesting inside table.type5
        self._cell: str | None = None
        self._row: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table" and ("type5" in classes or self._depth):
            self._depth += 1
        elif not self._depth:
            return
        elif tag == "tr":
            self._row = {}
        elif tag == "td":
            self._cell = next((c for c in ("title", "info", "date") if c in classes), None)
        elif tag == "a" and self._cell == "title":
            self._row["href"] = dict(attrs).get("href") or ""

    def handle_endtag(self, tag: str) -> None:
        if not self._depth:
            return
        if tag == "table":
            self._depth -= 1
        elif tag == "td":
            self._cell = None
        elif tag == "tr" and {"href", "title", "info", "date"} <= set(self._row):
            row = self._row
            self.rows.append((row["href"], row["title"], row["info"], row["date"]))
            self._row = {}

    def handle_data(self, data: str) -> None:
        if self._depth and self._cell:
            self._row[self._cell] = self._row.get(self._cell, "") + data


def parse_page(page: str, ticker: str, base_url: str) -> list[Headline]:
    parser = _Rows()
    parser.feed(page)
    found = []
    for href, raw_title, raw_press, raw_date in parser.rows:
        title, press = clean_text(raw_title), clean_text(raw_press)
        try:
            published = datetime.strptime(clean_text(raw_date), "%Y.%m.%d %H:%M")
        except ValueError:
            continue
        if not title or not href:
            continue
        url = str(httpx.URL(base_url).join(href))
        found.append(
            Headline(
                ticker=ticker,
                title=title,
                url=url,
                source=press,
                summary="",
                published_at=published.replace(tzinfo=KST),
                origin=PROVIDER,
                credibility=credibility(press),
            )
        )
    return found


def _decode(response: httpx.Response) -> str:
    """The page's text: its declared charset, else UTF-8, else EUC-KR (Naver Finance's own)."""
    if response.charset_encoding:
        return response.text
    try:
        return response.content.decode("utf-8")
    except UnicodeDecodeError:
        return response.content.decode("euc-kr", errors="replace")


class NaverFinanceHtml:
    def __init__(
        self,
        *,
        base_url: str = "https://finance.naver.com",
        timeout_s: float = 5.0,
        rate_per_s: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.interval_s = 1.0 / rate_per_s
        self._last = 0.0
        self.requests = 0
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            # The page answers browsers: a Referer from its own site, as the monolith sent.
            headers={"Referer": f"{self.base_url}/item/main.naver", "User-Agent": "Mozilla/5.0"},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def headlines(self, ticker: str) -> list[Headline]:
        wait = self._last + self.interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()
        self.requests += 1
        try:
            response = self._http.get(PATH, params={"code": ticker, "page": 1})
        except httpx.HTTPError as exc:
            raise NewsApiError(PROVIDER, f"unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise NewsApiError(PROVIDER, f"HTTP {response.status_code}")
        return parse_page(_decode(response), ticker, self.base_url + "/")
