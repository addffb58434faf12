"""``/docs`` (Swagger UI) and ``/redoc``, behind a setting and a strict Content-Security-Policy.

No installed package ships the Swagger UI or ReDoc assets, so the pages load them from
``docs_assets_url`` (a CDN by default; a cluster without internet points it at its own copy,
or sets ``docs_enabled`` off). The CSP lets scripts come only from that origin plus the
pages' own inline script, pinned by its hash; nothing may frame the pages or post forms.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse

from krstock.config import ApiSection

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"


def content_security_policy(html: str, assets_url: str) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    origin = _origin(assets_url)
    return (
        f"default-src 'none'; script-src {origin} {hashes}; "
        f"style-src {origin} 'unsafe-inline'; img-src 'self' data:; font-src {origin} data:; "
        "connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    )


def _page(response: HTMLResponse, assets_url: str) -> tuple[str, dict[str, str]]:
    """The page's HTML and headers (a response is built per request: middleware may edit it)."""
    html = bytes(response.body).decode()
    return html, {"Content-Security-Policy": content_security_policy(html, assets_url)}


def install_docs(app: FastAPI, api: ApiSection) -> None:
    """Adds ``/docs`` and ``/redoc`` when ``docs_enabled`` (the app is built without them)."""
    if not api.docs_enabled:
        return
    base = api.docs_assets_url.rstrip("/")
    openapi_url = app.openapi_url or "/openapi.json"
    swagger = _page(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{base}/swagger-ui-dist@5/swagger-ui-bundle.js",
            swagger_css_url=f"{base}/swagger-ui-dist@5/swagger-ui.css",
            swagger_favicon_url="data:,",
        ),
        base,
    )
    redoc = _page(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}/redoc@2/bundles/redoc.standalone.js",
            redoc_favicon_url="data:,",
            with_google_fonts=False,
        ),
        base,
    )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(_: Request) -> HTMLResponse:
        return HTMLResponse(swagger[0], headers=swagger[1])

    @app.get("/redoc", include_in_schema=False)
    async def redoc_page(_: Request) -> HTMLResponse:
        return HTMLResponse(redoc[0], headers=redoc[1])
