"""The plumbing every fake of an outside API shares: a threaded HTTP server on a free port of
127.0.0.1, started and stopped with the fake (``with FakeX() as fake: ... fake.url``)."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackServer(ABC):
    """Base of the fakes: each says how it answers (``handler()``); this class owns the
    server's life and address."""

    _server: ThreadingHTTPServer | None = None

    @abstractmethod
    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class, closing over this fake's script and records."""

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def send_bytes(
    handler: BaseHTTPRequestHandler,
    status: int,
    data: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    """One whole answer; a client that already gave up (its timeout) gets nothing."""
    try:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        return


def send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    send_bytes(handler, status, data, content_type, headers)
