"""Screenshots of every dashboard page from a running gateway, for docs/img (run by hand).

    bash scripts/demo.sh                      # serves the demo database on 127.0.0.1:8000
    .venv/bin/python tests/integration/web/screenshots.py --base http://127.0.0.1:8000 \
        --out docs/img

Same browser, flags and watching as the tests: it stops with a message on a console error or
a request that leaves 127.0.0.1, so a broken page never becomes a documentation image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, for helpers.*

from dashboard_harness import CHROMIUM, launch, watch

PAGES = (
    ("overview", "/dashboard/kr", "complete"),
    ("vcp", "/dashboard/kr/vcp", "ready"),
    ("closing-bet", "/dashboard/kr/closing-bet", "ready"),
    ("data-status", "/dashboard/data-status", "ready"),
    ("chatbot", "/chatbot", "ready"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--question", default="오늘 마켓 게이트 어때?")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p, CHROMIUM)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
        watched = watch(ctx)
        for name, path, marker in PAGES:
            page = ctx.new_page()
            page.goto(args.base + path)
            page.wait_for_selector(f"body[data-{marker}='1']", timeout=30_000)
            if name == "chatbot":
                # A clean conversation: this client's anonymous history is cleared first.
                page.click("#chat-clear")
                page.wait_for_function("() => document.querySelectorAll('.msg').length < 2")
                page.fill("#chat-input", args.question)
                page.click("#chat-form button[type=submit]")
                page.locator("#chat-log [data-answer='1']").last.wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=str(args.out / f"dashboard-{name}.png"), full_page=True)
            if name == "closing-bet" and page.locator("#cards article").count():
                page.locator("#cards article button").first.click()
                page.wait_for_selector("#stock-chart[data-state='ready']")
                page.wait_for_timeout(500)
                page.screenshot(path=str(args.out / "dashboard-stock-chart.png"))
            page.close()
        narrow = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
        watched_narrow = watch(narrow)
        page = narrow.new_page()
        page.goto(args.base + "/dashboard/kr")
        page.wait_for_selector("body[data-complete='1']", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(args.out / "dashboard-overview-narrow.png"), full_page=True)
        browser.close()
    for seen in (watched, watched_narrow):
        seen.check()
    print(f"screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
