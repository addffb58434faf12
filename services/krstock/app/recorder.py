"""Bookkeeping of a run in ``scan_runs``: PENDING → RUNNING → SUCCEEDED | FAILED, with progress."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from krstock.app.finite import finite
from krstock.db.repositories import ScanRunRepository

ProgressFn = Callable[[float, str], None]
log = logging.getLogger(__name__)


def new_run_id(kind: str, day: date | None = None) -> str:
    """A readable unique id: ``<kind>-<yyyymmdd>-<8 hex>``."""
    stamp = day.strftime("%Y%m%d") if day else "nodate"
    return f"{kind}-{stamp}-{uuid.uuid4().hex[:8]}"


class RunRecorder:
    """Progress of one run; every update is its own short transaction so viewers see it live."""

    def __init__(self, engine: Engine, run_id: str, progress: ProgressFn | None = None) -> None:
        self.engine = engine
        self.run_id = run_id
        self._callback = progress

    def progress(self, percent: float, message: str) -> None:
        with Session(self.engine) as session, session.begin():
            ScanRunRepository(session).progress(self.run_id, percent)
        log.info(message, extra={"run_id": self.run_id, "progress": round(percent, 1)})
        if self._callback is not None:
            self._callback(percent, message)


@contextmanager
def recorded_run(
    engine: Engine,
    *,
    kind: str,
    day: date | None,
    run_id: str | None = None,
    params: Mapping[str, Any] | None = None,
    policy_name: str | None = None,
    source: str | None = None,
    scanjob: str | None = None,
    progress: ProgressFn | None = None,
) -> Iterator[RunRecorder]:
    """Create (or reuse, by id) the run row, mark it RUNNING, and FAILED with the error if the
    body raises. The body marks success itself with :func:`finish_run` inside its write
    transaction, so results and SUCCEEDED land together."""
    run_id = run_id or new_run_id(kind, day)
    with Session(engine) as session, session.begin():
        repo = ScanRunRepository(session)
        repo.create(
            run_id,
            kind,
            scan_date=day,
            params=params,
            policy_name=policy_name,
            scanjob=scanjob,
            source=source,
        )
        repo.mark_running(run_id)
    recorder = RunRecorder(engine, run_id, progress)
    try:
        yield recorder
    except BaseException as exc:
        with Session(engine) as session, session.begin():
            ScanRunRepository(session).failed(run_id, f"{type(exc).__name__}: {exc}"[:2000])
        raise


def finish_run(session: Session, run_id: str, counts: Mapping[str, Any]) -> None:
    """Mark the run SUCCEEDED in the caller's transaction (with the results it wrote)."""
    ScanRunRepository(session).succeeded(run_id, finite(dict(counts)))
