"""``krstock apikey create|list|revoke``: API keys (stored hashed; the key is shown once)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from krstock.output import emit_json

if TYPE_CHECKING:
    from sqlalchemy import Engine


def _engine() -> Engine:
    from krstock.db.session import DatabaseNotConfiguredError, get_engine

    try:
        return get_engine()
    except DatabaseNotConfiguredError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="API keys for write, trigger and admin routes.", no_args_is_help=True)

    @group.command("create")
    def create(
        name: str = typer.Option(..., "--name", help="a unique label, e.g. the client's name"),
        scopes: str = typer.Option("read", "--scopes", help="comma list of read,write,admin"),
        as_json: bool = typer.Option(False, "--json", help="JSON on stdout"),
    ) -> None:
        """Create a key and print it ONCE (only its hash is stored)."""
        from sqlalchemy.orm import Session

        from krstock.api.infra.apikeys import ApiKeyError, create_key

        with Session(_engine()) as session:
            try:
                key, record = create_key(session, name, scopes)
            except ApiKeyError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from exc
            session.commit()
        if as_json:
            emit_json({"key": key, **record.as_dict()})
        else:
            typer.echo(key)
            typer.echo(
                f"created {record.name!r} (prefix {record.prefix}, scopes "
                f"{','.join(record.scopes)}); store it now: it cannot be shown again",
                err=True,
            )

    @group.command("list")
    def list_(as_json: bool = typer.Option(False, "--json", help="JSON on stdout")) -> None:
        """List keys (names, prefixes, scopes, state); never the keys themselves."""
        from sqlalchemy.orm import Session

        from krstock.api.infra.apikeys import list_keys

        with Session(_engine()) as session:
            records = list_keys(session)
        if as_json:
            emit_json([r.as_dict() for r in records])
            return
        for r in records:
            state = "revoked" if r.revoked_at else "active"
            used = r.last_used_at.isoformat() if r.last_used_at else "never"
            typer.echo(f"{r.prefix}  {r.name:24} {','.join(r.scopes):18} {state:8} used {used}")

    @group.command("revoke")
    def revoke(
        name_or_prefix: str = typer.Argument(..., help="the key's name or prefix"),
        as_json: bool = typer.Option(False, "--json", help="JSON on stdout"),
    ) -> None:
        """Revoke a key (it is refused from then on; other processes within 5 s)."""
        from sqlalchemy.orm import Session

        from krstock.api.infra.apikeys import ApiKeyError, revoke_key

        with Session(_engine()) as session:
            try:
                record = revoke_key(session, name_or_prefix)
            except ApiKeyError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from exc
            session.commit()
        if as_json:
            emit_json(record.as_dict())
        else:
            typer.echo(f"revoked {record.name!r} ({record.prefix})")

    app.add_typer(group, name="apikey")
