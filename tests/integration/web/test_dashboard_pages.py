"""The dashboard in a real browser (Debian's chromium, Playwright) against a gateway on a
seeded database: every page renders the API's data, the VCP prices refresh on the poll, the
closing-bet page follows the date selector, the chat answers with its source, the run button
starts a run and shows its progress; no console errors, no request leaves 127.0.0.1, and the
overview's first render in a cold browser is under 1 s. Screenshots of every page and the
measured figures go to the artifacts folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_harness import Server, Watched, gateway, launch, record_figures, watch
from helpers.api_seed import SeedSummary
from sqlalchemy import text

from krstock.db.session import make_engine

pytestmark = [pytest.mark.integration, pytest.mark.browser]

FIRST_RENDER_BUDGET_MS = 1000.0
DESKTOP = {"width": 1280, "height": 900}
HERE = Path(__file__).parent
NARROW = {"width": 390, "height": 844}


# In-page checks (plain JS files beside this module): accessibility basics and text contrast.
A11Y_JS = (HERE / "a11y.js").read_text()
CONTRAST_JS = (HERE / "contrast.js").read_text()


@pytest.fixture(scope="module")
def server(seeded: tuple[str, SeedSummary], redis_url: str) -> Iterator[Server]:
    with Server(gateway(seeded[0], redis_url)) as running:
        yield running


@pytest.fixture
def context(browser: Any) -> Iterator[tuple[Any, Watched]]:
    ctx = browser.new_context(viewport=DESKTOP, locale="ko-KR")
    watched = watch(ctx)
    yield ctx, watched
    ctx.close()


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"dashboard-{name}.png"), full_page=True)


def check_page_basics(page: Any) -> None:
    assert page.evaluate(A11Y_JS) == []
    assert page.evaluate(CONTRAST_JS) == []


def today_vcp(summary: SeedSummary) -> int:
    """Open VCP signals on the newest signal day (the seed dates them day[-1 - i % 3])."""
    return sum(1 for i in range(len(summary.open_vcp)) if i % 3 == 0)


TIMING_JS = """() => ({
  ready: performance.getEntriesByName('kr-ready')[0].startTime,
  fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
  dom: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
})"""


def cold_timing(playwright: Any, chromium_path: str, base: str) -> dict[str, float]:
    """The overview's timings (ms from navigation) in a new browser process."""
    assert httpx.get(base + "/ready").status_code == 200
    assert httpx.get(base + "/dashboard/kr").status_code == 200
    browser = launch(playwright, chromium_path)
    try:
        page = browser.new_context(viewport=DESKTOP, locale="ko-KR").new_page()
        page.goto(base + "/dashboard/kr")
        page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        timing: dict[str, float] = page.evaluate(TIMING_JS)
        return timing
    finally:
        browser.close()


def test_overview_first_render_in_a_cold_browser(
    server: Server,
    seeded: tuple[str, SeedSummary],
    playwright_instance: Any,
    chromium_path: str,
    artifacts: Path,
    redis_url: str,
) -> None:
    summary = seeded[1]
    # The server is warm (templates compiled, a pooled database connection), as a running
    # gateway is; its API caches stay cold. The browser is a fresh process with nothing cached.
    assert httpx.get(server.base + "/ready").status_code == 200
    assert httpx.get(server.base + "/dashboard/kr").status_code == 200
    cold = launch(playwright_instance, chromium_path)
    try:
        ctx = cold.new_context(viewport=DESKTOP, locale="ko-KR")
        watched = watch(ctx)
        page = ctx.new_page()
        page.goto(server.base + "/")  # redirects to the overview
        assert page.url == server.base + "/dashboard/kr"
        page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        timing = page.evaluate(TIMING_JS)
        assert page.inner_text("#gate-status") == "GREEN"
        assert page.get_attribute("#gate svg.ring", "aria-label") == "마켓 게이트 점수 75 / 100"
        expected = today_vcp(summary) + 5
        assert page.inner_text("#today-total") == str(expected)
        vcp_rows = page.locator("#vcp-today tbody tr")
        assert vcp_rows.count() == today_vcp(summary)
        assert page.locator("#cb-today tbody tr").count() == 5
        assert "2,650.12" in page.inner_text("#indices")
        assert page.locator("#sectors .tile").count() == 2
        assert "합성 데이터" in page.inner_text("#source-banner")

        page.wait_for_selector("body[data-complete='1']", timeout=15_000)
        assert page.get_attribute("#gate-history", "data-state") == "ready"
        assert page.get_attribute("#gate-history", "data-points") == "2"
        assert page.get_attribute("#equity", "data-state") == "ready"
        assert page.get_attribute("#equity", "data-lines") == "2"  # trades and KODEX 200
        # The curve ends where the API's own compounded figure says.
        report = httpx.get(server.base + "/api/kr/cumulative-return").json()
        final = float(page.get_attribute("#equity", "data-final") or "nan")
        assert abs(final - (100 + report["compounded_return"])) <= 0.02, (final, report)
        assert f"청산 {len(report['trades'])}건" in page.inner_text("#equity-summary")
        assert page.locator("#equity canvas").count() > 0
        assert "50.0%" in page.inner_text("#strategies")  # the VCP card's win rate
        weight = page.evaluate(
            """() => {
              const entries = [...performance.getEntriesByType('navigation'),
                               ...performance.getEntriesByType('resource')];
              return {
                requests: entries.length,
                transferred_bytes: entries.reduce((s, e) => s + e.transferSize, 0),
                decoded_bytes: entries.reduce((s, e) => s + e.decodedBodySize, 0),
              };
            }"""
        )
        figures = {**{f"{k}_ms": round(v, 1) for k, v in timing.items() if v}, **weight}
        attempts = [round(timing["ready"], 1)]
        while timing["ready"] >= FIRST_RENDER_BUDGET_MS and len(attempts) < 3:
            # CI shares 2 cores with a second test worker: measure again in the same
            # conditions (a new browser, a new gateway with cold caches) before calling it
            # slow; every attempt is reported.
            with Server(gateway(seeded[0], redis_url, keys=False)) as again:
                timing = cold_timing(playwright_instance, chromium_path, again.base)
            attempts.append(round(timing["ready"], 1))
            figures.update({f"{k}_ms": round(v, 1) for k, v in timing.items() if v})
        figures["ready_attempts_ms"] = attempts
        record_figures(artifacts, "overview_cold", figures)
        print(f"overview (cold browser): {figures}")
        assert timing["ready"] < FIRST_RENDER_BUDGET_MS, figures
        # The page, our JS/CSS and the chart library travel gzipped: well under 200 kB.
        assert weight["transferred_bytes"] < 200_000, weight
        shot(page, artifacts, "overview")
        check_page_basics(page)
        watched.check()
        assert all(key is None for key in watched.api_keys.values())  # no key stored
        ctx.close()
    finally:
        cold.close()


def test_vcp_table_prices_refresh_on_the_poll(
    server: Server,
    seeded: tuple[str, SeedSummary],
    context: tuple[Any, Watched],
    artifacts: Path,
) -> None:
    from playwright.sync_api import expect

    ctx, watched = context
    page = ctx.new_page()
    page.goto(server.base + "/dashboard/kr/vcp?poll_s=1")
    page.wait_for_selector("body[data-ready='1']")
    rows = page.locator("#vcp-table tbody tr")
    assert rows.count() == len(seeded[1].open_vcp)
    # The rule-based analyses are labelled as such, in the badges and the note.
    analysed = httpx.get(server.base + "/api/kr/ai-analysis").json()["signals"]
    assert analysed and all(a["analysis_source"] == "rules" for a in analysed)
    badges = page.locator("#vcp-table .badge", has_text="규칙")
    assert badges.count() == 2 * len(analysed)  # the GPT and Gemini columns
    assert "규칙 기반" in page.inner_text("#ai-note")
    api_signals = httpx.get(server.base + "/api/kr/signals").json()["signals"]
    priced = next(s for s in api_signals if s["price_status"] == "ok")
    ticker = priced["ticker"]
    row = page.locator(f"#vcp-table tr[data-ticker='{ticker}']")
    assert row.locator("td.price").inner_text() == f"{round(priced['current_price']):,}원"

    # A new price in the database reaches the row on the next poll (prices cached 1 s).
    engine = make_engine(seeded[0], pool_size=1, max_overflow=0)
    try:
        with engine.begin() as conn:
            new_close = conn.execute(
                text(
                    "UPDATE daily_prices SET close = close + 777 WHERE ticker = :t AND date = "
                    "(SELECT max(date) FROM daily_prices WHERE ticker = :t) RETURNING close"
                ),
                {"t": ticker},
            ).scalar_one()
        entry = priced["entry_price"]
        expected_return = round((new_close - entry) / entry * 100, 2)
        expect(row.locator("td.price")).to_have_text(f"{round(new_close):,}원", timeout=10_000)
        sign = "+" if expected_return > 0 else ""
        expect(row.locator("td").nth(8)).to_have_text(f"{sign}{expected_return:.2f}%")
        assert "가격 소스 db" in page.inner_text("#poll-state")
        assert int(page.get_attribute("body", "data-polls") or 0) >= 1
    finally:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE daily_prices SET close = close - 777 WHERE ticker = :t AND date = "
                    "(SELECT max(date) FROM daily_prices WHERE ticker = :t)"
                ),
                {"t": ticker},
            )
        engine.dispose()
    shot(page, artifacts, "vcp")
    check_page_basics(page)

    # The stock's detail: candles, volume and the entry/stop lines, drawn by the library.
    row.locator("button.link").click()
    page.wait_for_selector("#stock-chart[data-state='ready']")
    assert int(page.get_attribute("#stock-chart", "data-bars") or 0) > 100
    assert page.locator("#stock-chart canvas").count() > 0
    legend = page.inner_text("#stock-dialog-legend")
    assert "진입가" in legend and "손절가" in legend
    page.wait_for_timeout(300)  # the canvas paints on the next frame
    page.screenshot(path=str(artifacts / "dashboard-stock-chart.png"))
    page.click("#stock-dialog-close")
    watched.check()


def test_closing_bet_cards_for_a_date_from_the_selector(
    server: Server,
    seeded: tuple[str, SeedSummary],
    context: tuple[Any, Watched],
    artifacts: Path,
) -> None:
    ctx, watched = context
    page = ctx.new_page()
    page.goto(server.base + "/dashboard/kr/closing-bet")
    page.wait_for_selector("body[data-ready='1']")
    days = [d.isoformat() for d in seeded[1].closing_bet_dates]
    options = page.eval_on_selector_all("#date-select option", "os => os.map(o => o.value)")
    assert options == ["latest", *sorted(days, reverse=True)]
    assert page.get_attribute("#cards", "data-date") == days[-1]

    chosen = days[0]
    page.select_option("#date-select", chosen)
    page.wait_for_selector(f"#cards[data-date='{chosen}'][data-state='ready']")
    expected = httpx.get(f"{server.base}/api/kr/jongga-v2/history/{chosen}").json()["signals"]
    cards = page.locator("#cards article")
    assert cards.count() == len(expected) == 5
    shown = [cards.nth(i).get_attribute("data-code") for i in range(cards.count())]
    assert shown == [s["stock_code"] for s in expected]
    grades = [cards.nth(i).get_attribute("data-grade") for i in range(cards.count())]
    assert grades == [s["grade"] for s in expected]
    first = cards.nth(0)
    assert f"{expected[0]['score']['total']}/12" in first.inner_text()
    assert first.locator(".chip.on").count() >= 1
    assert first.locator("meter").count() == 7  # six parts and the total
    assert first.locator("a[href]").count() == 1  # the news link (not fetched by the page)
    assert f"{chosen} · 후보" in page.inner_text("#cb-stats")
    shot(page, artifacts, "closing-bet")
    check_page_basics(page)

    first.locator("button", has_text="차트 보기").click()
    page.wait_for_selector("#stock-chart[data-state='ready']")
    legend = page.inner_text("#stock-dialog-legend")
    assert all(word in legend for word in ("진입가", "손절가", "목표가"))
    page.click("#stock-dialog-close")
    watched.check()


def test_chat_page_shows_the_answer_and_its_source(
    server: Server, context: tuple[Any, Watched], artifacts: Path
) -> None:
    ctx, watched = context
    page = ctx.new_page()
    page.goto(server.base + "/chatbot")
    page.wait_for_selector("body[data-ready='1']")
    source = httpx.get(server.base + "/api/kr/chatbot/status").json()["source"]
    assert page.locator("#chat-log .msg.bot .meta").first.get_attribute("data-source") == source
    page.fill("#chat-input", "오늘 마켓 게이트 어때?")
    page.click("#chat-form button[type=submit]")
    answer = page.locator("#chat-log [data-answer='1']").last
    answer.wait_for()
    meta = answer.locator(".meta")
    assert meta.get_attribute("data-source") == source
    assert f"출처: {source}" in meta.inner_text()
    assert "GREEN" in answer.inner_text()  # the gate of the newest day, from the database
    shot(page, artifacts, "chatbot")
    check_page_basics(page)
    watched.check()


def test_data_status_lists_tables_and_streams_an_update(
    server: Server, context: tuple[Any, Watched], artifacts: Path
) -> None:
    ctx, watched = context
    page = ctx.new_page()
    page.goto(server.base + "/dashboard/data-status")
    page.wait_for_selector("body[data-ready='1']")
    files = httpx.get(server.base + "/api/system/data-status").json()["files"]
    rows = page.locator("#files tbody tr")
    assert rows.count() == len(files) == 5
    prices = page.locator("#files tr[data-name='Daily Prices']")
    assert f"{files[0]['rowCount']:,}" in prices.inner_text()

    # A single update streams its progress (SSE over fetch, the key in a header).
    page.fill("#api-key", server.built.keys["write"])
    page.click("#key-form button[type=submit]")
    page.select_option("#single-type", "market_gate")
    page.click("#update-single")
    page.wait_for_selector("#update-log[data-state='done']", timeout=60_000)
    log = page.inner_text("#update-log")
    assert "[SYSTEM] Process finished with exit code 0" in log, log
    assert watched.api_keys["/api/system/update-single"] == server.built.keys["write"]
    shot(page, artifacts, "data-status")
    check_page_basics(page)
    watched.check()


def test_narrow_layout_has_no_sideways_scroll(
    server: Server, browser: Any, artifacts: Path
) -> None:
    ctx = browser.new_context(viewport=NARROW, locale="ko-KR", is_mobile=True, has_touch=True)
    watched = watch(ctx)
    try:
        for path in ("/dashboard/kr", "/dashboard/kr/vcp", "/dashboard/kr/closing-bet"):
            page = ctx.new_page()
            page.goto(server.base + path)
            page.wait_for_selector("body[data-ready='1']")
            width = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
            assert width[0] <= width[1] + 1, f"{path}: page is {width[0]} px wide in {width[1]}"
            assert page.locator("nav.side a").first.is_visible()
            if path == "/dashboard/kr":
                page.wait_for_selector("body[data-complete='1']")
                shot(page, artifacts, "overview-narrow")
            page.close()
        watched.check()
    finally:
        ctx.close()


def test_run_button_starts_a_run_and_shows_its_progress(
    server: Server, context: tuple[Any, Watched], artifacts: Path
) -> None:
    ctx, watched = context
    page = ctx.new_page()
    page.goto(server.base + "/dashboard/kr/closing-bet")
    page.wait_for_selector("body[data-ready='1']")

    # Without a key the run is refused, and the page says what to do.
    page.click("#run-button")
    page.wait_for_selector("#run-state [role=alert]")
    assert "API 키" in page.inner_text("#run-state")

    page.fill("#api-key", server.built.keys["write"])
    page.click("#key-form button[type=submit]")
    assert "키 저장됨" in page.inner_text("#key-state")
    page.click("#run-button")
    page.wait_for_selector("#run-state progress")
    run_id = page.get_attribute("#run-state", "data-run-id")
    assert run_id
    started = time.monotonic()
    page.wait_for_selector(
        "#run-state[data-run-status='SUCCEEDED'], #run-state[data-run-status='FAILED']",
        timeout=120_000,
    )
    run = httpx.get(f"{server.base}/api/v1/runs/{run_id}").json()
    assert page.get_attribute("#run-state", "data-run-status") == run["status"] == "SUCCEEDED"
    assert page.eval_on_selector("#run-state progress", "p => p.value") == 100
    assert run_id in page.inner_text("#run-state") and "SUCCEEDED" in page.inner_text("#run-state")
    assert watched.api_keys["/api/kr/jongga-v2/run"] == server.built.keys["write"]
    record_figures(artifacts, "closing_bet_run", {"seconds": round(time.monotonic() - started, 2)})
    shot(page, artifacts, "closing-bet-run")
    # The refused first click logged the browser's own "401" resource line, nothing else.
    watched.check(allow=("status of 401",))
