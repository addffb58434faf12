"""FastAPI dependencies, as in full-stack-fastapi-template's ``api/deps.py``.

Handlers declare what they need by type: ``state: StateDep``, ``session: SessionDep``,
``_: WriteKey``. Routes that only need the check, not the key, list ``READ_ACCESS`` in
``dependencies=[...]`` (it runs before any session is opened).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from krstock.api.infra.apikeys import KeyRecord
from krstock.api.infra.ratelimit import rate_limit
from krstock.api.infra.security import read_access, require_admin, require_write
from krstock.api.infra.state import AppState, get_state


async def get_app_state(connection: HTTPConnection) -> AppState:
    """This app's shared resources (async: resolving it costs no thread-pool hop)."""
    return get_state(connection)


StateDep = Annotated[AppState, Depends(get_app_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A read/write session per request, committed by the route when it writes."""
    session = state.session()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]

# The presented API key, checked for a scope (None: a read without a key, where allowed).
ReadKey = Annotated[KeyRecord | None, Depends(read_access)]
WriteKey = Annotated[KeyRecord | None, Depends(require_write)]
AdminKey = Annotated[KeyRecord | None, Depends(require_admin)]

# Route- and router-level guards, for ``dependencies=[...]``.
READ_ACCESS = Depends(read_access)
RATE_LIMIT = Depends(rate_limit)
