"""``krstock serve gateway|scanner|signals|analyzer [--host] [--port N]``: run one HTTP service."""

from __future__ import annotations

from enum import StrEnum

import typer

DEFAULT_PORTS = {"gateway": 8000, "scanner": 8001, "signals": 8002, "analyzer": 8003}


class Service(StrEnum):
    gateway = "gateway"
    scanner = "scanner"
    signals = "signals"
    analyzer = "analyzer"


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        service: Service = typer.Argument(..., help="which service to run"),
        host: str = typer.Option("127.0.0.1", help="bind address (0.0.0.0 in a container)"),
        port: int = typer.Option(
            None, min=1, max=65535, help="port (gateway 8000, scanner 8001, signals 8002, ...)"
        ),
        workers: int = typer.Option(1, min=1, max=32, help="uvicorn worker processes"),
    ) -> None:
        """Serve one FastAPI service (configured by KRSTOCK_* environment variables)."""
        import uvicorn

        from krstock.db.session import DatabaseNotConfiguredError, configured_url

        try:
            configured_url()
        except DatabaseNotConfiguredError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        uvicorn.run(
            f"krstock.api.{service.value}:create_app",
            factory=True,
            host=host,
            port=port or DEFAULT_PORTS[service.value],
            workers=workers,
            access_log=False,  # the app writes its own JSON access log with request ids
            log_config=None,
            # The app alone decides whether to believe X-Forwarded-For
            # (KRSTOCK_TRUST_FORWARDED_FOR); uvicorn's own proxy handling would believe it
            # from any loopback peer and hand the app a client address it never chose.
            proxy_headers=False,
        )
