"""``krstock db``: migrations, health check, backup/restore and the ERD.

Every subcommand takes ``--json`` (one summary object on stdout; logs go to stderr) and
``--database-url`` (else KRSTOCK_MIGRATION_DATABASE_URL, else KRSTOCK_DATABASE_URL).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer

from krstock.output import emit_json

log = logging.getLogger("krstock.db")

db_app = typer.Typer(help="Database: migrations, checks, backup and restore.", no_args_is_help=True)

URL_OPTION = typer.Option(
    None,
    "--database-url",
    help="PostgreSQL URL (default: KRSTOCK_MIGRATION_DATABASE_URL, then KRSTOCK_DATABASE_URL).",
)
JSON_OPTION = typer.Option(False, "--json", help="Print a JSON summary on stdout.")


def resolve_url(explicit: str | None) -> str:
    """The URL to use, or a clear error (exit code 2) when none is configured."""
    from krstock.config import get_settings

    settings = get_settings()
    for candidate in (explicit, settings.migration_database_url, settings.database_url):
        if candidate:
            return candidate
    typer.echo(
        "error: no database URL: pass --database-url or set KRSTOCK_MIGRATION_DATABASE_URL "
        "(schema owner) or KRSTOCK_DATABASE_URL",
        err=True,
    )
    raise typer.Exit(2)


@db_app.callback()
def _quiet_alembic_setup() -> None:
    """Alembic logs each plugin it loads (on import) at INFO; a db command's output is what it
    did, not that."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _revision(revision: str | None) -> str:
    """A revision as people read it: no revision means an empty (unmigrated) database."""
    return revision or "empty database"


def _report(as_json: bool, summary: dict[str, Any], text: str) -> None:
    if as_json:
        emit_json(summary)
    else:
        typer.echo(text)


def _fail(as_json: bool, summary: dict[str, Any], message: str, code: int = 1) -> None:
    summary = {**summary, "ok": False, "error": message}
    if as_json:
        emit_json(summary)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@db_app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    database_url: str | None = URL_OPTION,
    grant_app_role: bool = typer.Option(
        False, help="Also create/grant the application role (Settings.app_role)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Migrate the schema up to REVISION (default head)."""
    from krstock.config import get_settings
    from krstock.db import migrate

    url = resolve_url(database_url)
    before = migrate.current_revision(url)
    started = time.perf_counter()
    migrate.upgrade(url, revision)
    summary: dict[str, Any] = {
        "ok": True,
        "from_revision": before,
        "to_revision": migrate.current_revision(url),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if grant_app_role:
        from krstock.db.roles import ensure_app_role

        settings = get_settings()
        password = settings.app_role_password
        ensure_app_role(url, settings.app_role, password.get_secret_value() if password else None)
        summary["app_role"] = settings.app_role
    _report(as_json, summary, f"upgraded {_revision(before)} → {summary['to_revision']}")


@db_app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision (e.g. base, 0001, -1)."),
    database_url: str | None = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Migrate the schema down to REVISION."""
    from krstock.db import migrate

    url = resolve_url(database_url)
    before = migrate.current_revision(url)
    migrate.downgrade(url, revision)
    after = migrate.current_revision(url)
    _report(
        as_json,
        {"ok": True, "from_revision": before, "to_revision": after},
        f"downgraded {_revision(before)} → {_revision(after)}",
    )


def _app_role_status(conn: Any, tables: set[str]) -> dict[str, Any]:
    """Whether Settings.app_role exists and can write rows (but not create tables)."""
    from sqlalchemy import text

    from krstock.config import get_settings

    role = get_settings().app_role
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    status: dict[str, Any] = {"name": role, "exists": exists is not None}
    if exists is not None and "signals" in tables:
        row = conn.execute(
            text(
                "SELECT has_table_privilege(:r, 'signals', 'INSERT'), "
                "has_schema_privilege(:r, current_schema(), 'CREATE')"
            ),
            {"r": role},
        ).one()
        status.update(can_write=bool(row[0]), can_create_tables=bool(row[1]))
    return status


def _failing_jobs(conn: Any) -> list[dict[str, Any]]:
    """TimescaleDB background jobs whose last run failed ([] on plain PostgreSQL)."""
    from krstock.db.timescale import failing_jobs

    with conn.connection.driver_connection.cursor() as cur:
        return [job.as_dict() for job in failing_jobs(cur)]


def gather_check(url: str) -> dict[str, Any]:
    """Connectivity, revisions, TimescaleDB, schema drift and row counts."""
    from sqlalchemy import text

    from krstock.db import migrate
    from krstock.db.features import timescaledb_available, timescaledb_installed
    from krstock.db.models import Base
    from krstock.db.session import make_engine

    head = migrate.head_revision()
    summary: dict[str, Any] = {"connected": False, "head_revision": head}
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            summary["connected"] = True
            summary["server_version"] = conn.execute(text("SHOW server_version")).scalar()
            summary["timescaledb_available"] = timescaledb_available(conn)
            summary["timescaledb_installed"] = timescaledb_installed(conn)
            existing = set(
                conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                ).scalars()
            )
            counts: dict[str, int | None] = {}
            for table in sorted(Base.metadata.tables):
                counts[table] = (
                    int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())
                    if table in existing
                    else None
                )
            summary["row_counts"] = counts
            summary["app_role"] = _app_role_status(conn, existing)
            summary["failing_jobs"] = _failing_jobs(conn)
    finally:
        engine.dispose()
    current = migrate.current_revision(url)
    summary["current_revision"] = current
    summary["up_to_date"] = current == head
    summary["schema_in_sync"] = current == head and not migrate.schema_diff(url)
    summary["ok"] = bool(summary["up_to_date"] and summary["schema_in_sync"])
    return summary


def _failing_job_lines(jobs: list[dict[str, Any]]) -> list[str]:
    if not jobs:
        return []
    lines = [
        f"warning: {len(jobs)} TimescaleDB background job(s) failed; `krstock db maintain` runs "
        "them in the foreground (the scheduler fails on PostgreSQL 15: use PostgreSQL >= 16)"
    ]
    for job in jobs:
        lines.append(
            f"  job {job['job_id']} {job['proc_name']} on {job['target'] or '-'}: "
            f"{job['total_failures']} failure(s), last error: {job['last_error'] or 'unknown'}"
        )
    return lines


@db_app.command()
def check(
    database_url: str | None = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Report connectivity, current vs head revision, TimescaleDB and row counts.

    Exit code 1 when the database is unreachable or not migrated to head.
    """
    url = resolve_url(database_url)
    try:
        summary = gather_check(url)
    except Exception as exc:  # a check reports the state: exit 1, in one line
        from krstock.errors import as_user_error

        error = as_user_error(exc)
        reason = error.message.removeprefix("cannot use the database: ")
        reason += f"; {error.hint}" if error.hint else ""
        _fail(as_json, {"connected": False}, f"cannot check the database: {reason}")
        return
    lines = [
        f"connected: {summary['connected']} (PostgreSQL {summary.get('server_version')})",
        f"revision: {summary['current_revision']} (head {summary['head_revision']})",
        f"schema in sync with models: {summary['schema_in_sync']}",
        f"timescaledb: available={summary['timescaledb_available']} "
        f"installed={summary['timescaledb_installed']}",
        f"app role: {summary['app_role']}",
        *(f"  {t}: {n}" for t, n in summary["row_counts"].items()),
        *_failing_job_lines(summary["failing_jobs"]),
    ]
    _report(as_json, summary, "\n".join(lines))
    if not summary["ok"]:
        raise typer.Exit(1)


@db_app.command()
def maintain(
    database_url: str | None = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Run TimescaleDB's upkeep in the foreground: refresh the continuous aggregates over the
    whole history (imported history included), then the refresh and compression policy jobs
    (CALL run_job). On plain PostgreSQL there is nothing to maintain (exit 0).

    Exit code 1 when a step failed (the other steps still run).
    """
    from krstock.db.timescale import run_maintenance
    from krstock.domain.calendar import kst_now

    url = resolve_url(database_url)
    try:
        report = run_maintenance(url, kst_now().date())
    except Exception as exc:  # unreachable server and the like: one line, the error's exit code
        from krstock.errors import as_user_error

        error = as_user_error(exc)
        _fail(as_json, {}, f"cannot maintain the database: {error.message}", error.exit_code)
        return
    summary = report.as_dict()
    if not report.timescaledb:
        summary["message"] = (
            "nothing to maintain: TimescaleDB is not installed in this database "
            "(plain PostgreSQL has no compression or continuous aggregates to run)"
        )
        _report(as_json, summary, summary["message"])
        return
    lines = [
        f"{'ok' if step.error is None else 'FAILED'} {step.action} {step.target}"
        + (f" (job {step.job_id})" if step.job_id is not None else "")
        + f": {step.seconds:.3f} s"
        + (f": {step.error}" if step.error else "")
        for step in report.steps
    ]
    _report(as_json, summary, "\n".join(lines) or "TimescaleDB installed; no job to run")
    if not report.ok:
        raise typer.Exit(1)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found on PATH (install postgresql-client)")
    return found


def _run(args: list[str]) -> None:
    log.info("running %s", " ".join(args[:2]))
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.stderr:
        sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed (exit {done.returncode})")


def _row_counts(url: str) -> dict[str, int | None]:
    import psycopg

    from krstock.db.models import Base
    from krstock.db.session import libpq_url

    counts: dict[str, int | None] = {}
    with psycopg.connect(libpq_url(url)) as conn:
        existing = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
        for table in sorted(Base.metadata.tables):
            if table in existing:
                row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
                counts[table] = int(row[0]) if row else 0
            else:
                counts[table] = None
    return counts


def backup_database(url: str, file: Path) -> dict[str, Any]:
    """``pg_dump`` in custom format to ``file``; returns a summary with row counts."""
    from krstock.db.session import libpq_url

    file.parent.mkdir(parents=True, exist_ok=True)
    _run([_tool("pg_dump"), "--format=custom", f"--file={file}", libpq_url(url)])
    return {
        "ok": True,
        "file": str(file),
        "bytes": file.stat().st_size,
        "row_counts": _row_counts(url),
    }


def restore_database(url: str, file: Path, *, clean: bool = False) -> dict[str, Any]:
    """``pg_restore`` a custom-format dump into ``url`` (TimescaleDB-aware)."""
    import psycopg

    from krstock.db.session import libpq_url

    if not file.is_file():
        raise FileNotFoundError(f"no backup file at {file}")
    from krstock.db.features import timescaledb_usable
    from krstock.db.session import make_engine

    target = libpq_url(url)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as probe:
            timescale = timescaledb_usable(probe)
    finally:
        engine.dispose()
    if timescale:
        with psycopg.connect(target, autocommit=True) as conn:
            # TimescaleDB's documented restore procedure: catalog in restore mode meanwhile.
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT timescaledb_pre_restore()")
    args = [_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={target}"]
    if clean:
        args[1:1] = ["--clean", "--if-exists"]
    try:
        _run([*args, str(file)])
    finally:
        if timescale:
            with psycopg.connect(target, autocommit=True) as conn:
                conn.execute("SELECT timescaledb_post_restore()")
    return {"ok": True, "file": str(file), "row_counts": _row_counts(url)}


@db_app.command()
def backup(
    file: Path = typer.Argument(..., help="Output file (pg_dump custom format)."),
    database_url: str | None = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Dump the database to FILE with pg_dump (custom format)."""
    url = resolve_url(database_url)
    try:
        summary = backup_database(url, file)
    except (RuntimeError, OSError) as exc:
        _fail(as_json, {"file": str(file)}, str(exc))
        return
    _report(as_json, summary, f"backup written to {file} ({summary['bytes']:,} bytes)")


@db_app.command()
def restore(
    file: Path = typer.Argument(..., help="A file written by `krstock db backup`."),
    database_url: str | None = URL_OPTION,
    clean: bool = typer.Option(False, help="Drop existing objects first (--clean --if-exists)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore FILE into the database with pg_restore (use an empty database, or --clean)."""
    url = resolve_url(database_url)
    try:
        summary = restore_database(url, file, clean=clean)
    except (RuntimeError, OSError) as exc:
        _fail(as_json, {"file": str(file)}, str(exc))
        return
    total = sum(n or 0 for n in summary["row_counts"].values())
    _report(as_json, summary, f"restored {file} ({total:,} rows)")


@db_app.command()
def erd(
    output: Path | None = typer.Option(None, "--output", help="Write here (e.g. docs/erd.md)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Render the schema as a Mermaid erDiagram (Markdown)."""
    from krstock.db.erd import render_erd
    from krstock.db.models import Base

    document = render_erd()
    if output is None:
        if as_json:
            emit_json({"ok": True, "tables": len(Base.metadata.tables), "markdown": document})
        else:
            sys.stdout.write(document)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    _report(
        as_json,
        {"ok": True, "output": str(output), "tables": len(Base.metadata.tables)},
        f"wrote {output}",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
