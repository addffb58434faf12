"""A loopback HTTP server speaking the news providers' real shapes, for the collectors' tests.

- Naver Search ``GET /v1/search/news.json?query=&display=&start=&sort=``: the
  X-Naver-Client-Id/Secret headers are checked (401 ``errorCode 024`` otherwise); answers
  ``{lastBuildDate, total, start, display, items: [{title, originallink, link, description,
  pubDate}]}`` from ``naver_items[query]``; ``naver_status`` forces an error status with Naver's
  ``{errorMessage, errorCode}`` body (429 -> code 012).
- OpenDART ``GET /api/list.json?crtfc_key=&bgn_de=&end_de=&page_no=&page_count=``: a wrong key
  gets status 010; filings in the date range are paged (``total_page``); none -> status 013;
  ``dart_status`` forces a status (e.g. "020", over the limit). HTTP is 200 either way, as DART's.
- Naver Finance ``GET /item/news_news.naver?code=``: ``html_pages[code]`` as EUC-KR HTML.

Every request is recorded (path, query, headers) in ``requests``.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from helpers.loopback import LoopbackServer, send_bytes, send_json

NAVER_ERRORS = {
    400: ("SE01", "Incorrect query request. (잘못된 쿼리요청입니다.)"),
    401: ("024", "Authentication failed. (인증에 실패했습니다.)"),
    429: ("012", "Rate limit exceeded. (속도 제한을 초과했습니다.)"),
    500: ("SE99", "System Error. (시스템 에러)"),
}
DART_MESSAGES = {
    "000": "정상",
    "010": "등록되지 않은 키입니다.",
    "013": "조회된 데이타가 없습니다.",
    "020": "요청 제한을 초과하였습니다.",
}


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeNewsApis(LoopbackServer):
    naver_id: str = "test-client-id"
    naver_secret: str = "test-client-secret"
    dart_key: str = "0123456789abcdef0123456789abcdef01234567"
    naver_items: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    naver_status: int | None = None
    dart_filings: list[dict[str, str]] = field(default_factory=list)
    dart_status: str | None = None
    html_pages: dict[str, str] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                return

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                fake.requests.append(Recorded(split.path, query, dict(self.headers.items())))
                if split.path == "/v1/search/news.json":
                    self._send(*fake._naver(dict(self.headers.items()), query))
                elif split.path == "/api/list.json":
                    self._send(200, fake._dart(query))
                elif split.path == "/item/news_news.naver" and query.get("code") in fake.html_pages:
                    page = fake.html_pages[query["code"]].encode("euc-kr")
                    self._raw(200, page, "text/html")  # no charset, as the real page
                else:
                    self._send(404, {"errorMessage": "Not Found", "errorCode": "404"})

            def _send(self, status: int, body: Any) -> None:
                send_json(self, status, body)

            def _raw(self, status: int, data: bytes, content_type: str) -> None:
                send_bytes(self, status, data, content_type)

        return Handler

    def _naver(self, headers: dict[str, str], query: dict[str, str]) -> tuple[int, Any]:
        lowered = {k.lower(): v for k, v in headers.items()}
        status = self.naver_status
        if (
            lowered.get("x-naver-client-id") != self.naver_id
            or lowered.get("x-naver-client-secret") != self.naver_secret
        ):
            status = 401
        if status is None and "query" not in query:
            status = 400
        if status is not None:
            code, message = NAVER_ERRORS.get(status, ("SE99", "System Error."))
            return status, {"errorMessage": message, "errorCode": code}
        items = self.naver_items.get(query["query"], [])
        display = int(query.get("display", "10"))
        start = int(query.get("start", "1"))
        page = items[start - 1 : start - 1 + display]
        return 200, {
            "lastBuildDate": "Fri, 04 Dec 2026 18:00:00 +0900",
            "total": len(items),
            "start": start,
            "display": len(page),
            "items": page,
        }

    def _dart(self, query: dict[str, str]) -> dict[str, Any]:
        def status(code: str) -> dict[str, Any]:
            return {"status": code, "message": DART_MESSAGES.get(code, "오류")}

        if query.get("crtfc_key") != self.dart_key:
            return status("010")
        if self.dart_status is not None:
            return status(self.dart_status)
        begin, end = query.get("bgn_de", "00000000"), query.get("end_de", "99999999")
        rows = [f for f in self.dart_filings if begin <= f["rcept_dt"] <= end]
        if not rows:
            return status("013")
        count = int(query.get("page_count", "10"))
        number = int(query.get("page_no", "1"))
        return {
            **status("000"),
            "page_no": number,
            "page_count": count,
            "total_count": len(rows),
            "total_page": math.ceil(len(rows) / count),
            "list": rows[(number - 1) * count : number * count],
        }


def naver_item(
    title: str, url: str, pub_date: str, description: str = "", link: str | None = None
) -> dict[str, str]:
    """One news.json item as Naver writes it (title and description may hold <b> and entities)."""
    return {
        "title": title,
        "originallink": url,
        "link": link
        or f"https://n.news.naver.com/mnews/article/001/{zlib.crc32(url.encode()):010d}",
        "description": description,
        "pubDate": pub_date,
    }


def dart_filing(
    stock_code: str, corp_name: str, report: str, rcept_no: str, rcept_dt: str
) -> dict[str, str]:
    """One list.json row as DART writes it (report names carry trailing spaces)."""
    return {
        "corp_code": "00" + stock_code,
        "corp_name": corp_name,
        "stock_code": stock_code,
        "corp_cls": "Y",
        "report_nm": report + "   ",
        "rcept_no": rcept_no,
        "flr_nm": corp_name,
        "rcept_dt": rcept_dt,
        "rm": "유",
    }
