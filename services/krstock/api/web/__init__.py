"""The web dashboard: the monolith's pages (monolith.md §6), served by the gateway.

Server-rendered Jinja2 shells plus a little plain JavaScript that reads our own HTTP API
(``/api/kr/*``, ``/api/*``, ``/api/v1/*``) from the browser: the pages hold no data of their own,
so they show exactly what an API client sees, with the same keys, limits and errors. Static
files (our CSS/JS and the vendored lightweight-charts build with its licence) are served from
``/dashboard/static``; nothing is loaded from another origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from krstock import __version__
from krstock.api.infra.state import get_state

HERE = Path(__file__).parent
STATIC_URL = "/dashboard/static"
POLL_DEFAULT_S = 60  # the monolith's VCP page polled live prices every 60 s
POLL_MIN_S, POLL_MAX_S = 1, 3600
RUN_POLL_MS = 1000

# Only our own origin: scripts from files (no inline code), data from the API. Inline styles
# are allowed because the chart library sets style attributes on the elements it creates.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)

# (path, template, Korean title, navigation label); the order is the sidebar's.
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("/dashboard/kr", "overview.html", "KR 마켓 개요", "Overview"),
    ("/dashboard/kr/vcp", "vcp.html", "VCP 시그널", "VCP Signals"),
    ("/dashboard/kr/closing-bet", "closing_bet.html", "종가베팅 V2", "종가베팅"),
    ("/dashboard/data-status", "data_status.html", "데이터 상태", "Data Status"),
    ("/chatbot", "chatbot.html", "AI 챗봇", "Chatbot"),
)

templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


def _render(request: Request, template: str, path: str, **extra: Any) -> HTMLResponse:
    settings = get_state(request).settings
    context = {
        "pages": PAGES,
        "current": path,
        "title": next(title for p, _, title, _ in PAGES if p == path),
        "static": STATIC_URL,
        "version": __version__,
        "market_source": settings.market_source,
        "keys_for_reads": settings.api.api_require_key_for_reads,
        **extra,
    }
    response = templates.TemplateResponse(request, template, context)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-cache"
    return response


@router.api_route("/", methods=["GET", "HEAD"])
def home() -> RedirectResponse:
    return RedirectResponse("/dashboard/kr", status_code=307)


@router.api_route("/dashboard", methods=["GET", "HEAD"])
def dashboard_home() -> RedirectResponse:
    return RedirectResponse("/dashboard/kr", status_code=307)


@router.get("/dashboard/kr", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    return _render(request, "overview.html", "/dashboard/kr")


@router.get("/dashboard/kr/vcp", response_class=HTMLResponse)
def vcp(
    request: Request,
    poll_s: int = Query(
        default=POLL_DEFAULT_S,
        ge=POLL_MIN_S,
        le=POLL_MAX_S,
        description="how often live prices are polled (seconds)",
    ),
) -> HTMLResponse:
    return _render(request, "vcp.html", "/dashboard/kr/vcp", poll_s=poll_s)


@router.get("/dashboard/kr/closing-bet", response_class=HTMLResponse)
def closing_bet(request: Request) -> HTMLResponse:
    return _render(
        request, "closing_bet.html", "/dashboard/kr/closing-bet", run_poll_ms=RUN_POLL_MS
    )


@router.get("/dashboard/data-status", response_class=HTMLResponse)
def data_status(request: Request) -> HTMLResponse:
    return _render(request, "data_status.html", "/dashboard/data-status")


@router.get("/chatbot", response_class=HTMLResponse)
def chatbot(request: Request) -> HTMLResponse:
    return _render(request, "chatbot.html", "/chatbot")


class _Static(StaticFiles):
    """Static files with a cache lifetime: URLs carry ``?v=<version>``, so a new release is
    fetched again while repeat visits of one release come from the browser's cache."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=3600"
        return response


def install(app: FastAPI) -> None:
    """Adds the pages and ``/dashboard/static`` to ``app`` (the gateway)."""
    app.include_router(router)
    app.mount(STATIC_URL, _Static(directory=str(HERE / "static")), name="dashboard-static")
