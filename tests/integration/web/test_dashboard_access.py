"""The dashboard with keys required for reads, and with its database or the gateway gone: the
pages say what is wrong and what to do, instead of going blank."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_harness import Server, free_port, gateway, watch
from helpers.api_seed import SeedSummary

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# Chromium logs every 4xx/5xx answer as a console error; the pages themselves raise none.
RESOURCE_ERRORS = ("Failed to load resource",)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    yield ctx
    ctx.close()


def test_keys_for_reads_the_user_enters_a_key_and_the_page_loads(
    seeded: tuple[str, SeedSummary], redis_url: str, context: Any, artifacts: Path
) -> None:
    watched = watch(context)
    with Server(gateway(seeded[0], redis_url, api_require_key_for_reads=True)) as server:
        page = context.new_page()
        page.goto(server.base + "/dashboard/kr")
        page.wait_for_selector("body[data-ready='1']")
        # Refused reads are explained where the data would be, and the header asks for a key.
        assert page.get_attribute("#gate", "data-state") == "error"
        assert "API 키가 필요" in page.inner_text("#gate")
        assert "읽기에도 API 키가 필요" in page.inner_text("#key-state")
        assert "KRSTOCK_API_REQUIRE_KEY_FOR_READS" in page.inner_text("footer")
        page.screenshot(path=str(artifacts / "dashboard-key-needed.png"))

        page.fill("#api-key", server.built.keys["read"])
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("#gate-status")
        assert page.inner_text("#gate-status") == "GREEN"
        # The gate and the signals reload concurrently: wait for the signals' own answer.
        page.wait_for_selector("#vcp-today:not([data-state='error'])", timeout=15_000)
        vcp_state = page.get_attribute("#vcp-today", "data-state")
        assert vcp_state == "ready", page.inner_text("#vcp-today")
        assert watched.api_keys["/api/kr/market-gate"] == server.built.keys["read"]
        # Stored in this browser only: a reload reads with it at once.
        page.reload()
        page.wait_for_selector("#gate-status")
        stored = page.evaluate("() => localStorage.getItem('krstock.apiKey')")
        assert stored == server.built.keys["read"]
        # The chat page works with the key too (chat needs a caller identity).
        page.goto(server.base + "/chatbot")
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#chat-log .msg.bot .meta").count() == 1
    watched.check(allow=RESOURCE_ERRORS)
    assert not [e for e in watched.errors if "pageerror" in e]


def test_database_down_every_section_says_so(redis_url: str, context: Any, artifacts: Path) -> None:
    watched = watch(context)
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/krstock_absent"
    with Server(gateway(dead, redis_url, keys=False)) as server:
        page = context.new_page()
        page.goto(server.base + "/dashboard/kr")
        page.wait_for_selector("body[data-complete='1']", timeout=30_000)
        for section in ("#gate", "#today-count", "#vcp-today", "#cb-today", "#strategies"):
            assert page.get_attribute(section, "data-state") == "error", section
            assert "503" in page.inner_text(section), section
        assert page.locator("nav.side a").count() == 5  # the shell still works
        page.screenshot(path=str(artifacts / "dashboard-degraded.png"), full_page=True)
    watched.check(allow=RESOURCE_ERRORS)
    assert not [e for e in watched.errors if "pageerror" in e]


def test_gateway_gone_the_poll_says_it_cannot_connect(
    seeded: tuple[str, SeedSummary], redis_url: str, context: Any
) -> None:
    watched = watch(context)
    server = Server(gateway(seeded[0], redis_url))
    with server:
        page = context.new_page()
        page.goto(server.base + "/dashboard/kr/vcp?poll_s=1")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_function("() => Number(document.body.dataset.polls || 0) >= 1")
    # The server has stopped: the next poll reports it and the table stays as it was.
    page.wait_for_function(
        "text => document.getElementById('poll-state').textContent.includes(text)",
        arg="서버에 연결할 수 없습니다",
        timeout=15_000,
    )
    assert page.locator("#vcp-table tbody tr").count() == len(seeded[1].open_vcp)
    watched.check(allow=(*RESOURCE_ERRORS, "ERR_CONNECTION_REFUSED"))


def test_overview_update_button_runs_the_pipeline_and_follows_it(
    seeded: tuple[str, SeedSummary], redis_url: str, context: Any
) -> None:
    """Last in this module: the pipeline run writes to its database."""
    watched = watch(context)
    with Server(gateway(seeded[0], redis_url)) as server:
        page = context.new_page()
        page.goto(server.base + "/dashboard/kr")
        page.wait_for_selector("body[data-complete='1']")
        page.fill("#api-key", server.built.keys["write"])
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("body[data-complete='1']")
        page.click("#update-button")
        page.wait_for_selector("#update-run progress")
        page.wait_for_selector(
            "#update-run[data-run-status='SUCCEEDED'], #update-run[data-run-status='FAILED']",
            timeout=240_000,
        )
        run_id = page.get_attribute("#update-run", "data-run-id")
        run = httpx.get(f"{server.base}/api/v1/runs/{run_id}").json()
        assert run["kind"] == "pipeline"
        assert page.get_attribute("#update-run", "data-run-status") == run["status"], run
        assert run["status"] == "SUCCEEDED", run["error"]
    watched.check()
