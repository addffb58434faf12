"""The dashboard's browser harness: a real gateway on 127.0.0.1 (uvicorn in a thread) and
Debian's chromium driven by Playwright (its own browser download does not work here, so
``executable_path``). Every context is watched: console errors and page errors are collected,
and any request for a host other than 127.0.0.1 is recorded and aborted.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from helpers.api_apps import Built, build_app, make_keys

CHROMIUM = os.environ.get("KRSTOCK_CHROMIUM", "/usr/bin/chromium")
# Root in CI needs --no-sandbox; /dev/shm is small in containers; no GPU on these machines.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
LOCAL_HOSTS = {"127.0.0.1"}


def record_figures(artifacts: Path, name: str, figures: dict[str, Any]) -> None:
    """Adds ``figures`` under ``name`` to dashboard-figures.json in the artifacts folder."""
    target = artifacts / "dashboard-figures.json"
    current = json.loads(target.read_text()) if target.exists() else {}
    current[name] = figures
    target.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A uvicorn server for ``built.app`` in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, built: Built) -> None:
        self.built = built
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(built.app, host="127.0.0.1", port=self.port, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.built.state.close()


def gateway(url: str, redis_url: str, keys: bool = True, **settings: Any) -> Built:
    """A gateway whose live prices come from the database and live 1 s (the poll test), with
    one key per scope in ``built.keys`` (unless ``keys`` is off: a database that is down)."""
    built = build_app("gateway", url, redis_url, settings=settings, api={"cache_ttl_prices_s": 1})
    if keys:
        built.keys = make_keys(built.state, prefix="web")
    return built


@dataclass
class Watched:
    """What a browser context did that a test must not ignore."""

    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    api_keys: dict[str, str | None] = field(default_factory=dict)  # API path -> X-API-Key sent

    def check(self, allow: tuple[str, ...] = ()) -> None:
        assert not self.external, f"requests left 127.0.0.1: {self.external}"
        unexpected = [e for e in self.errors if not any(a in e for a in allow)]
        assert not unexpected, f"console errors: {unexpected}"


def watch(context: Any) -> Watched:
    """Record console errors, page errors and every request; abort any non-local one."""
    watched = Watched()

    def route(r: Any) -> None:
        url = r.request.url
        watched.requests.append(url)
        parts = urlsplit(url)
        if parts.path.startswith("/api/"):
            watched.api_keys[parts.path] = r.request.headers.get("x-api-key")
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            watched.external.append(url)
            r.abort()
        else:
            r.continue_()

    def on_page(page: Any) -> None:
        page.on(
            "console",
            lambda m: watched.errors.append(f"{page.url}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: watched.errors.append(f"{page.url}: pageerror {e}"))

    context.route("**/*", route)
    context.on("page", on_page)
    return watched


def launch(playwright: Any, chromium_path: str) -> Any:
    return playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
