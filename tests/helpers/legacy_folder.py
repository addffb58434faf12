"""A monolith folder for import tests: a ``data/`` directory holding chosen files of the shared
legacy data (which is never copied into the repository, only into a test's temporary folder)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path


def legacy_root(shared_data: Path, root: Path, files: Iterable[str]) -> Path:
    """``root``/data with ``files`` from ``shared_data``/legacy; returns ``root`` (what
    ``import_legacy`` takes)."""
    folder = root / "data"
    folder.mkdir()
    for name in files:
        shutil.copy(shared_data / "legacy" / name, folder / name)
    return root
