"""The collect step with the news APIs (a loopback server speaking Naver's and OpenDART's shapes)
into the real PostgreSQL: the movers' items land in news_items with their provider as origin,
a re-run adds nothing, a refused key is reported without failing the prices, and without keys
the source's own news stays and the summary says so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import pandas as pd
import pytest
from helpers.fake_news_apis import FakeNewsApis, dart_filing, naver_item
from sqlalchemy import Engine, text

from krstock.db.reader import recent_news
from krstock.ingest.collect import collect, news_targets
from krstock.marketdata.base import PRICE_COLUMNS, STOCK_COLUMNS, SourceError
from krstock.marketdata.news_dart import DartClient
from krstock.marketdata.news_feed import NewsFeed
from krstock.marketdata.news_naver import NaverNewsClient
from krstock.marketdata.news_rank import KST
from krstock.marketdata.sample import SampleMarket

pytestmark = pytest.mark.integration

DAY = date(2026, 12, 4)
# ticker, name, change %, trading value: 카카오 did not move, so its news is not asked for.
BOOK = [
    ("005930", "삼성전자", 7.5, 2_000_000_000_000),
    ("000660", "SK하이닉스", 6.1, 900_000_000_000),
    ("035720", "카카오", 1.0, 300_000_000_000),
    ("100001", "회사1", 9.0, 60_000_000_000),
]


class FourStocks:
    """A tiny real-shaped market of one day (stocks and prices only, as krx-csv provides)."""

    name = "four-stocks"
    provides = frozenset({"stocks", "daily_prices"})

    def stocks(self) -> pd.DataFrame:
        rows = [
            (t, n, "KOSPI", None, "LISTED", False, False, False, False, False, self.name)
            for t, n, _, _ in BOOK
        ]
        return pd.DataFrame(rows, columns=STOCK_COLUMNS)

    def daily_prices(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        rows = [
            (t, DAY, 100.0, 110.0, 99.0, 100.0 + c, 1000, value, c, c, False, self.name)
            for t, _, c, value in BOOK
            if start <= DAY <= end
        ]
        return pd.DataFrame(rows, columns=PRICE_COLUMNS)

    def investor_flows(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        raise SourceError("not provided")

    def index_prices(self, start: date, end: date) -> pd.DataFrame:
        raise SourceError("not provided")

    def fx_rates(self, start: date, end: date) -> pd.DataFrame:
        raise SourceError("not provided")

    def news(self, day: date, tickers: list[str]) -> pd.DataFrame:
        raise SourceError("not provided")


@pytest.fixture()
def fake() -> Iterator[FakeNewsApis]:
    items = {
        "삼성전자": [
            naver_item(
                "<b>삼성전자</b> &quot;HBM&quot; 대형 수주",
                "https://www.yna.co.kr/view/AKR1",
                "Fri, 04 Dec 2026 10:00:00 +0900",
                "<b>삼성전자</b> 수주",
            ),
            naver_item(
                "<b>삼성전자</b> HBM 대형 수주",  # the same story again
                "https://www.hankyung.com/a/2",
                "Fri, 04 Dec 2026 10:05:00 +0900",
                "<b>삼성전자</b>",
            ),
            naver_item(
                "<b>삼성전자</b> 내일 기사",
                "https://www.mk.co.kr/news/3",
                "Sat, 05 Dec 2026 09:00:00 +0900",  # dated after the collected day
                "<b>삼성전자</b>",
            ),
        ],
        "카카오": [
            naver_item("카카오 소식", "https://www.mk.co.kr/k", "Fri, 04 Dec 2026 10:00:00 +0900")
        ],
    }
    filings = [
        dart_filing("100001", "회사1", "단일판매ㆍ공급계약체결", "20261204000001", "20261204"),
        dart_filing("035720", "카카오", "분기보고서", "20261204000002", "20261204"),
    ]
    with FakeNewsApis(naver_items=items, dart_filings=filings) as server:
        yield server


def _feed(fake: FakeNewsApis, secret: str | None = None) -> NewsFeed:
    naver = NaverNewsClient(
        fake.naver_id, secret or fake.naver_secret, base_url=fake.url, rate_per_s=1000
    )
    dart = DartClient(fake.dart_key, base_url=fake.url, rate_per_s=1000)
    return NewsFeed(naver, dart, today=lambda: DAY)


def _news(engine: Engine) -> list[tuple[str, str, str, str, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ticker, title, source, origin, credibility FROM news_items "
                "ORDER BY ticker, credibility DESC"
            )
        ).all()
    return [tuple(r) for r in rows]


def test_news_apis_feed_the_collect_step(db_engine: Engine, fake: FakeNewsApis) -> None:
    summary = collect(db_engine, FourStocks(), DAY, DAY, news_feed=_feed(fake))
    news = summary["news"]
    assert list(news["providers"]) == ["naver", "dart"] and news["tickers"] == 3
    asked = [r.query["query"] for r in fake.requests if r.path == "/v1/search/news.json"]
    assert sorted(asked) == ["SK하이닉스", "삼성전자", "회사1"]  # the movers, not 카카오
    assert _news(db_engine) == [
        ("005930", '삼성전자 "HBM" 대형 수주', "연합뉴스", "naver", 0.95),
        ("100001", "[공시] 단일판매ㆍ공급계약체결", "DART", "dart", 0.5),
    ]
    assert summary["tables"]["news_items"] == {"rows": 2, "inserted": 2, "updated": 0}
    with db_engine.connect() as conn:
        read = recent_news(conn, DAY, ["005930", "100001", "035720"], 2)
    assert read["005930"][0]["url"] == "https://www.yna.co.kr/view/AKR1"
    assert read["005930"][0]["published_at"] == datetime(2026, 12, 4, 10, tzinfo=KST).isoformat()
    assert "035720" not in read  # not a mover: its filing was not kept

    again = collect(db_engine, FourStocks(), DAY, DAY, news_feed=_feed(fake))
    assert again["tables"]["news_items"]["inserted"] == 0
    assert again["tables"]["news_items"]["updated"] == 0


def test_a_refused_key_is_reported_and_the_prices_still_land(
    db_engine: Engine, fake: FakeNewsApis
) -> None:
    summary = collect(db_engine, FourStocks(), DAY, DAY, news_feed=_feed(fake, secret="wrong"))
    naver = summary["news"]["providers"]["naver"]
    assert naver["requests"] == 1 and "KRSTOCK_NAVER_CLIENT_ID" in naver["error"]
    assert summary["tables"]["daily_prices"]["inserted"] == 4
    assert [row[3] for row in _news(db_engine)] == ["dart"]  # DART still served its filing


def test_without_keys_collection_says_news_comes_from_the_source_only(
    db_engine: Engine, fake: FakeNewsApis
) -> None:
    summary = collect(db_engine, FourStocks(), DAY, DAY, news_feed=NewsFeed())
    assert summary["news"]["providers"] == {}
    assert "no news API keys" in summary["news"]["note"]
    assert "four-stocks source" in summary["news"]["note"]
    assert summary["tables"]["news_items"]["skipped"].startswith("not provided")
    assert fake.requests == []


def test_the_synthetic_market_is_not_searched(db_engine: Engine, fake: FakeNewsApis) -> None:
    market = SampleMarket(seed=5, n_tickers=60)
    summary = collect(
        db_engine, market, date(2026, 11, 16), date(2026, 11, 20), news_feed=_feed(fake)
    )
    assert "synthetic" in summary["news"]["note"] and fake.requests == []
    origins = {row[3] for row in _news(db_engine)}
    assert origins <= {"sample"}


def test_news_targets_are_the_days_movers_by_trading_value_capped() -> None:
    prices = FourStocks().daily_prices(DAY, DAY)
    assert news_targets(prices, DAY, None, limit=2, min_change=5.0) == ["005930", "000660"]
    assert news_targets(prices, DAY, None, limit=9, min_change=8.0) == ["100001"]
    assert news_targets(prices, date(2026, 12, 3), None, limit=9, min_change=0.0) == []
    assert news_targets(None, DAY, ["035720", "005930"], limit=1, min_change=5.0) == ["035720"]


def test_a_day_without_movers_asks_nothing_and_says_so(
    db_engine: Engine, fake: FakeNewsApis
) -> None:
    before = date(2026, 12, 3)  # the market has no bars that day
    summary = collect(db_engine, FourStocks(), before, before, news_feed=_feed(fake))
    assert summary["news"] == {
        "providers": {},
        "note": "no movers on 2026-12-03 to collect news for",
    }
    assert fake.requests == []
