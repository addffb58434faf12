"""OpenDART filings (``GET /api/list.json?crtfc_key=…``) as news items: one paged query for a
date range covers every listed company, kept for the tickers asked for.

Status codes (the body's ``status``, HTTP is 200 either way): 000 ok, 013 no data (an empty
day, not an error), 020 over the request limit, 010/011/012/901 a key that cannot be used.
A filing has a receipt date but no time: it is dated 00:00 KST of that day.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import date, datetime
from typing import Any

import httpx

from krstock.marketdata.news_rank import KST, Headline, NewsApiError, clean_text, credibility

PROVIDER = "dart"
SOURCE = "DART"
PATH = "/api/list.json"
PAGE_COUNT = 100  # the API's maximum
VIEWER = "https://dart.fss.or.kr/dsaf001/main.do?rcpNo={}"
NO_DATA = "013"
RATE_LIMITED = "020"
KEY_ERRORS = {
    "010": "the key is not registered",
    "011": "the key cannot be used",
    "012": "this address may not use the key",
    "901": "the key has expired",
}


def parse_filings(payload: Any, tickers: Collection[str]) -> tuple[list[Headline], int]:
    """A list.json page: (headlines for ``tickers``, total pages). Raises on a non-000 status
    except 013 (no data: nothing, one page)."""
    if not isinstance(payload, dict):
        raise NewsApiError(PROVIDER, "answer is not a JSON object")
    status = str(payload.get("status") or "")
    message = str(payload.get("message") or "")
    if status == NO_DATA:
        return [], 1
    if status != "000":
        if status == RATE_LIMITED:
            raise NewsApiError(
                PROVIDER,
                f"over the request limit [{status}] {message}",
                code=status,
                rate_limited=True,
            )
        what = KEY_ERRORS.get(status, "refused the request")
        if status in KEY_ERRORS:
            what += " (check KRSTOCK_DART_API_KEY)"
        raise NewsApiError(
            PROVIDER,
            f"{what} [{status}] {message}".rstrip(),
            code=status,
            fatal=status in KEY_ERRORS,
        )
    rows = payload.get("list")
    if not isinstance(rows, list):
        raise NewsApiError(PROVIDER, "status 000 without a 'list'")
    wanted = set(tickers)
    found = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        ticker = str(row.get("stock_code") or "").strip()
        receipt = str(row.get("rcept_no") or "").strip()
        title = clean_text(row.get("report_nm"))
        if ticker not in wanted or not receipt.isdigit() or not title:
            continue
        day = _receipt_day(row.get("rcept_dt"))
        filer = clean_text(row.get("flr_nm"))
        company = clean_text(row.get("corp_name"))
        found.append(
            Headline(
                ticker=ticker,
                title=f"[공시] {title}",
                url=VIEWER.format(receipt),
                source=SOURCE,
                summary=f"{company} 공시: {title} (제출인 {filer}, 접수일 {day or '알 수 없음'})",
                published_at=datetime(day.year, day.month, day.day, tzinfo=KST) if day else None,
                origin=PROVIDER,
                credibility=credibility(SOURCE),
            )
        )
    try:
        pages = int(payload.get("total_page") or 1)
    except (TypeError, ValueError):
        pages = 1
    return found, max(pages, 1)


def _receipt_day(raw: Any) -> date | None:
    try:
        return datetime.strptime(str(raw), "%Y%m%d").date()
    except ValueError:
        return None


class DartClient:
    """Filings of a date range, page by page, paced to ``rate_per_s`` requests."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://opendart.fss.or.kr",
        timeout_s: float = 5.0,
        max_pages: int = 30,
        rate_per_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_key = api_key
        self.max_pages = max_pages
        self.interval_s = 1.0 / rate_per_s
        self._last = 0.0
        self.requests = 0
        self.truncated = False  # more pages than max_pages
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def _page(self, start: date, end: date, page: int) -> Any:
        wait = self._last + self.interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()
        self.requests += 1
        params: dict[str, str | int] = {
            "crtfc_key": self.api_key,
            "bgn_de": f"{start:%Y%m%d}",
            "end_de": f"{end:%Y%m%d}",
            "page_no": page,
            "page_count": PAGE_COUNT,
        }
        try:
            response = self._http.get(PATH, params=params)
        except httpx.HTTPError as exc:
            raise NewsApiError(PROVIDER, f"unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise NewsApiError(PROVIDER, f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise NewsApiError(PROVIDER, "answer is not JSON") from exc

    def filings(self, start: date, end: date, tickers: Collection[str]) -> list[Headline]:
        """Filings received in [start, end] by the companies listed as ``tickers``."""
        found: list[Headline] = []
        page, pages = 1, 1
        while page <= pages:
            items, pages = parse_filings(self._page(start, end, page), tickers)
            found += items
            if page >= self.max_pages and pages > page:
                self.truncated = True
                break
            page += 1
        return found
