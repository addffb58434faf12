"""Shared output helpers: ``--json`` summaries on stdout, progress bars on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson
from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

stderr_console = Console(stderr=True)


def emit_json(payload: Any) -> None:
    """Write one JSON document to stdout (numpy scalars and dates included)."""
    sys.stdout.write(
        orjson.dumps(
            payload, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
        ).decode()
    )
    sys.stdout.write("\n")
    sys.stdout.flush()


class _Bar:
    def __init__(self, progress: Progress | None, task_id: Any) -> None:
        self._progress = progress
        self._task_id = task_id

    def advance(self, n: float = 1, description: str | None = None) -> None:
        if self._progress is not None:
            kwargs: dict[str, Any] = {"advance": n}
            if description is not None:
                kwargs["description"] = description
            self._progress.update(self._task_id, **kwargs)

    def set_total(self, total: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task_id, total=total)


@contextmanager
def progress_bar(description: str, total: float | None, enabled: bool = True) -> Iterator[_Bar]:
    """A Rich progress bar on stderr when it is a terminal; silent otherwise."""
    if not (enabled and stderr_console.is_terminal):
        yield _Bar(None, None)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),  # shows "?" while the total is unknown
        TimeElapsedColumn(),
        console=stderr_console,
        transient=True,
    ) as progress:
        task_id = progress.add_task(description, total=total)
        yield _Bar(progress, task_id)
