"""The news collectors against a loopback server speaking Naver's and OpenDART's real shapes:
entities and <b> tags cleaned, duplicates dropped, a future pubDate kept out, credibility
ranking and top 3, DART's paging and its 013/020/key statuses, the opt-in HTML page."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date, datetime

import pytest
from helpers.fake_news_apis import FakeNewsApis, dart_filing, naver_item

from krstock.config import Settings
from krstock.marketdata.base import NEWS_COLUMNS
from krstock.marketdata.news_dart import DartClient
from krstock.marketdata.news_feed import NewsFeed, news_feed_from_settings
from krstock.marketdata.news_html import NaverFinanceHtml
from krstock.marketdata.news_naver import NaverNewsClient, parse_pub_date
from krstock.marketdata.news_rank import (
    KST,
    NewsApiError,
    clean_text,
    press_for_url,
    select,
    title_key,
)

DAY = date(2026, 12, 4)  # a Friday; the window is 12-03 and 12-04 (KST)
SAMSUNG = "삼성전자"

NAVER_SAMSUNG = [
    naver_item(
        "<b>삼성전자</b>, 3분기 영업이익 &quot;깜짝&quot; 실적",
        "https://www.hankyung.com/article/2026120412345",
        "Fri, 04 Dec 2026 09:10:00 +0900",
        "<b>삼성전자</b>가 시장 예상을 웃도는 실적을 냈다 &amp; 반도체 회복",
    ),
    # The same story from another press: one of the two is kept (the more credible).
    naver_item(
        "삼성전자 3분기 영업이익 '깜짝' 실적!",
        "https://www.yna.co.kr/view/AKR20261204000100003",
        "Fri, 04 Dec 2026 08:55:00 +0900",
        "<b>삼성전자</b> 실적 발표",
    ),
    naver_item(
        "<b>삼성전자</b> HBM 공급 계약",
        "https://www.mk.co.kr/news/stock/11122233",
        "Thu, 03 Dec 2026 16:00:00 +0900",
        "<b>삼성전자</b>가 대형 공급 계약을 맺었다",
    ),
    naver_item(
        "<b>삼성전자</b> 주가 전망, 블로그 분석",
        "https://blog.example.com/samsung/1",
        "Fri, 04 Dec 2026 11:00:00 +0900",
        "<b>삼성전자</b> 분석",
    ),
    naver_item(
        "<b>삼성전자</b> 신제품 발표 (내일 기사)",
        "https://www.edaily.co.kr/news/read?newsId=999",
        "Sat, 05 Dec 2026 07:00:00 +0900",  # after the day: never used for 12-04
        "<b>삼성전자</b> 신제품",
    ),
    naver_item(
        "<b>삼성전자</b> 지난달 소식",
        "https://www.mt.co.kr/stock/2026/11/20",
        "Fri, 20 Nov 2026 10:00:00 +0900",  # before the window
        "<b>삼성전자</b>",
    ),
    naver_item(
        "반도체 업계 동향",  # the search matched the body; the company is named nowhere here
        "https://www.sedaily.com/NewsView/1",
        "Fri, 04 Dec 2026 10:00:00 +0900",
        "업계 전반",
    ),
    naver_item("<b>삼성전자</b> 날짜 없음", "https://www.news1.kr/x/1", "not a date", "삼성전자"),
]


@pytest.fixture()
def fake() -> Iterator[FakeNewsApis]:
    with FakeNewsApis(naver_items={SAMSUNG: NAVER_SAMSUNG}) as server:
        yield server


def _naver(fake: FakeNewsApis, secret: str | None = None) -> NaverNewsClient:
    return NaverNewsClient(
        fake.naver_id, secret or fake.naver_secret, base_url=fake.url, rate_per_s=1000
    )


def test_clean_text_strips_tags_then_decodes_entities() -> None:
    assert clean_text("<b>삼성</b> &quot;a&quot; &amp; b &lt;b&gt;  c") == '삼성 "a" & b <b> c'
    assert title_key("삼성전자, '깜짝' 실적!") == title_key("삼성전자 깜짝 실적")
    assert press_for_url("https://biz.chosun.com/a") == "조선비즈"
    assert press_for_url("https://www.chosun.com/a") == "조선일보"
    assert press_for_url("https://evil-yna.co.kr.example/a") is None


def test_pub_date_is_kst_and_malformed_is_none() -> None:
    parsed = parse_pub_date("Thu, 03 Dec 2026 07:00:00 +0000")
    assert parsed == datetime(2026, 12, 3, 16, 0, tzinfo=KST)
    assert parse_pub_date("not a date") is None and parse_pub_date("") is None


def test_naver_search_sends_the_keys_and_parses_the_real_shape(fake: FakeNewsApis) -> None:
    client = _naver(fake)
    items = client.search(SAMSUNG, "005930")
    client.close()
    request = fake.requests[-1]
    assert request.path == "/v1/search/news.json"
    assert request.query == {"query": SAMSUNG, "display": "30", "start": "1", "sort": "date"}
    assert request.headers["X-Naver-Client-Id"] == fake.naver_id
    assert request.headers["X-Naver-Client-Secret"] == fake.naver_secret
    first = items[0]
    assert first.title == '삼성전자, 3분기 영업이익 "깜짝" 실적'
    assert first.summary == "삼성전자가 시장 예상을 웃도는 실적을 냈다 & 반도체 회복"
    assert (first.source, first.credibility, first.origin) == ("한국경제", 0.9, "naver")
    assert first.url == "https://www.hankyung.com/article/2026120412345"
    assert first.published_at == datetime(2026, 12, 4, 9, 10, tzinfo=KST)
    blog = next(i for i in items if "blog" in i.url)
    assert (blog.source, blog.credibility) == ("blog.example.com", 0.5)


def test_selection_keeps_the_window_one_per_story_by_credibility_top_3(
    fake: FakeNewsApis,
) -> None:
    client = _naver(fake)
    kept = select(client.search(SAMSUNG, "005930"), DAY)
    client.close()
    # 한국경제's copy of the 연합뉴스 story goes (0.95 wins); the blog (0.5) is fourth; the
    # undated, the future and the November items are out of the window.
    assert [(k.source, k.title) for k in kept] == [
        ("연합뉴스", "삼성전자 3분기 영업이익 '깜짝' 실적!"),
        ("매일경제", "삼성전자 HBM 공급 계약"),
        ("서울경제", "반도체 업계 동향"),
    ]
    assert all(k.published_at and k.published_at.date() <= DAY for k in kept)
    assert not any("내일" in k.title or "지난달" in k.title for k in kept)


def test_naver_refused_key_and_rate_limit_are_errors_that_say_so(fake: FakeNewsApis) -> None:
    client = _naver(fake, secret="wrong")
    with pytest.raises(NewsApiError) as refused:
        client.search(SAMSUNG, "005930")
    assert refused.value.fatal and refused.value.code == "024"
    assert "KRSTOCK_NAVER_CLIENT_ID" in str(refused.value)
    fake.naver_status = 429
    with pytest.raises(NewsApiError) as limited:
        _naver(fake).search(SAMSUNG, "005930")
    assert limited.value.rate_limited and "over the request limit" in str(limited.value)


def _filings() -> list[dict[str, str]]:
    rows = [
        dart_filing(f"{100000 + n:06d}", f"회사{n}", "임원ㆍ주요주주특정증권등소유상황보고서",
                    f"20261204{n:06d}", "20261204")
        for n in range(230)
    ]  # fmt: skip
    rows[5] = dart_filing("005930", SAMSUNG, "단일판매ㆍ공급계약체결", "20261204000777", "20261204")
    rows[150] = dart_filing("005930", SAMSUNG, "[기재정정]분기보고서", "20261203000888", "20261203")
    rows.append(dart_filing("005930", SAMSUNG, "주요사항보고서", "20261120000001", "20261120"))
    return rows


def test_dart_pages_through_the_range_and_keeps_our_tickers(fake: FakeNewsApis) -> None:
    fake.dart_filings = _filings()
    client = DartClient(fake.dart_key, base_url=fake.url, rate_per_s=1000)
    items = client.filings(date(2026, 12, 3), DAY, {"005930"})
    client.close()
    assert client.requests == 3 and not client.truncated  # 231 filings in range, 100 a page
    pages = [r.query for r in fake.requests]
    assert [p["page_no"] for p in pages] == ["1", "2", "3"]
    assert pages[0]["bgn_de"] == "20261203" and pages[0]["end_de"] == "20261204"
    assert pages[0]["crtfc_key"] == fake.dart_key
    assert [i.title for i in items] == [
        "[공시] 단일판매ㆍ공급계약체결",
        "[공시] [기재정정]분기보고서",
    ]
    first = items[0]
    assert first.url == "https://dart.fss.or.kr/dsaf001/main.do?rcpNo=20261204000777"
    assert (first.source, first.origin) == ("DART", "dart")
    assert first.published_at == datetime(2026, 12, 4, tzinfo=KST)
    assert "제출인 삼성전자" in first.summary


def test_dart_page_cap_is_reported(fake: FakeNewsApis) -> None:
    fake.dart_filings = _filings()
    client = DartClient(fake.dart_key, base_url=fake.url, max_pages=2, rate_per_s=1000)
    client.filings(date(2026, 12, 3), DAY, {"005930"})
    assert client.requests == 2 and client.truncated


def test_dart_statuses_013_020_and_a_bad_key(fake: FakeNewsApis) -> None:
    client = DartClient(fake.dart_key, base_url=fake.url, rate_per_s=1000)
    assert client.filings(date(2026, 12, 3), DAY, {"005930"}) == []  # 013: no data
    fake.dart_status = "020"
    with pytest.raises(NewsApiError) as limited:
        client.filings(date(2026, 12, 3), DAY, {"005930"})
    assert limited.value.rate_limited and limited.value.code == "020"
    bad = DartClient("not-the-key", base_url=fake.url, rate_per_s=1000)
    with pytest.raises(NewsApiError) as refused:
        bad.filings(date(2026, 12, 3), DAY, {"005930"})
    assert refused.value.fatal and "KRSTOCK_DART_API_KEY" in str(refused.value)
    assert "등록되지 않은 키" in str(refused.value)


FINANCE_PAGE = """<html><head><meta charset="euc-kr"></head><body>
<table class="type5" summary="종목뉴스">
<thead><tr><th>제목</th><th>정보제공</th><th>날짜</th></tr></thead>
<tbody>
<tr class="first">
 <td class="title"><a href="/item/news_read.naver?article_id=0015731111&amp;office_id=001&amp;code=005930" class="tit">삼성전자, &quot;HBM&quot; 수주</a></td>
 <td class="info">연합뉴스</td><td class="date"> 2026.12.04 10:21</td>
</tr>
<tr class="relation_lst"><td colspan="3"><table class="type5"><tbody>
 <tr><td class="title"><a href="/item/news_read.naver?article_id=0005552222&amp;office_id=015&amp;code=005930">삼성전자 HBM 수주 확대</a></td>
 <td class="info">한국경제</td><td class="date"> 2026.12.04 09:05</td></tr>
</tbody></table></td></tr>
<tr><td class="title"><a href="/item/news_read.naver?article_id=1">날짜가 깨진 행</a></td>
 <td class="info">뉴스1</td><td class="date">어제</td></tr>
</tbody></table></body></html>"""  # noqa: E501


def test_html_fallback_reads_the_finance_page(fake: FakeNewsApis) -> None:
    fake.html_pages["005930"] = FINANCE_PAGE
    client = NaverFinanceHtml(base_url=fake.url, rate_per_s=1000)
    items = client.headlines("005930")
    client.close()
    assert [(i.title, i.source) for i in items] == [
        ('삼성전자, "HBM" 수주', "연합뉴스"),
        ("삼성전자 HBM 수주 확대", "한국경제"),
    ]
    assert items[0].url == (
        f"{fake.url}/item/news_read.naver?article_id=0015731111&office_id=001&code=005930"
    )
    assert items[0].published_at == datetime(2026, 12, 4, 10, 21, tzinfo=KST)
    assert fake.requests[-1].headers["Referer"].endswith("/item/main.naver")


def test_feed_ranks_across_providers_and_reports_each(fake: FakeNewsApis) -> None:
    fake.dart_filings = _filings()
    settings = Settings(
        naver_client_id=fake.naver_id,
        naver_client_secret=fake.naver_secret,
        dart_api_key=fake.dart_key,
        naver_api_base_url=fake.url,
        dart_api_base_url=fake.url,
        news_rate_per_s=1000,
    )
    feed = news_feed_from_settings(settings.news)
    feed.today = lambda: DAY
    assert feed.providers == ["naver", "dart"]
    names = {"005930": SAMSUNG, "000660": "SK하이닉스", "100001": ""}  # 회사1's name unknown
    frame, report = feed.collect(DAY, names)
    feed.close()
    assert report["window"] == ["2026-12-03", "2026-12-04"] and report["tickers"] == 3
    naver, dart = report["providers"]["naver"], report["providers"]["dart"]
    assert naver["requests"] == 2 and naver["error"] is None  # no name, no search
    assert dart["requests"] == 3 and dart["items"] == 3  # one query for every ticker
    rows = list(zip(frame["ticker"], frame["source"], frame["origin"], strict=True))
    # The article not naming 삼성전자 is dropped; a filing (0.5) ranks below the press and,
    # among equals, below the newer blog post; 회사1 has only its filing; SK하이닉스 nothing.
    assert rows == [
        ("005930", "연합뉴스", "naver"),
        ("005930", "매일경제", "naver"),
        ("005930", "blog.example.com", "naver"),
        ("100001", "DART", "dart"),
    ]
    assert (naver["kept"], dart["kept"], report["kept"]) == (3, 1, 4)
    assert list(frame.columns) == [*NEWS_COLUMNS, "credibility"]


def test_feed_falls_back_to_the_page_only_when_opted_in_and_the_search_failed(
    fake: FakeNewsApis,
) -> None:
    fake.naver_status = 429
    fake.html_pages["005930"] = FINANCE_PAGE
    feed = NewsFeed(
        _naver(fake), html=NaverFinanceHtml(base_url=fake.url, rate_per_s=1000), today=lambda: DAY
    )
    frame, report = feed.collect(DAY, {"005930": SAMSUNG, "000660": "SK하이닉스"})
    naver, html = report["providers"]["naver"], report["providers"]["naver-html"]
    assert naver["rate_limited"] and naver["requests"] == 1  # the limit stops the search
    assert html["requests"] == 2 and html["kept"] == 2  # 000660 has no page: reported
    assert "HTTP 404" in html["error"]
    assert list(frame["origin"]) == ["naver-html", "naver-html"]


def test_no_keys_no_feed() -> None:
    feed = news_feed_from_settings(Settings().news)
    assert not feed.enabled and feed.providers == []


def test_server_errors_and_a_dead_server_are_errors_not_empty_lists(fake: FakeNewsApis) -> None:
    fake.naver_status = 500
    with pytest.raises(NewsApiError) as failed:
        _naver(fake).search(SAMSUNG, "005930")
    assert not failed.value.fatal and "HTTP 500 [SE99]" in str(failed.value)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(NewsApiError, match="unreachable: ConnectError"):
        NaverNewsClient("id", "secret", base_url=dead).search(SAMSUNG, "005930")
    with pytest.raises(NewsApiError, match="unreachable: ConnectError"):
        DartClient("key", base_url=dead).filings(DAY, DAY, {"005930"})


def test_the_search_gives_up_after_three_failures_in_a_row(fake: FakeNewsApis) -> None:
    fake.naver_status = 500
    feed = NewsFeed(_naver(fake), today=lambda: DAY)
    names = {f"{n:06d}": f"회사{n}" for n in range(6)}
    frame, report = feed.collect(DAY, names)
    assert report["providers"]["naver"]["requests"] == 3 and frame.empty


def test_an_old_day_is_not_searched_but_dart_still_answers(fake: FakeNewsApis) -> None:
    fake.dart_filings = _filings()
    dart = DartClient(fake.dart_key, base_url=fake.url, rate_per_s=1000)
    feed = NewsFeed(_naver(fake), dart, today=lambda: date(2026, 12, 14))
    frame, report = feed.collect(DAY, {"005930": SAMSUNG})
    naver = report["providers"]["naver"]
    assert naver["requests"] == 0 and "10 days ago" in naver["skipped"]
    assert report["providers"]["dart"]["kept"] == 2 and list(frame["origin"]) == ["dart", "dart"]
