"""What an import did: per-file counts, failures, the rejects CSV and the JSON summary."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from krstock.db.bulk import UpsertCounts
from krstock.marketdata.legacy_io import Reject

REJECT_COLUMNS = ["file", "line", "reason", "raw"]


@dataclass
class FileResult:
    """One imported file. ``tables`` holds the upsert counts of every table it wrote (its
    ``stocks`` merge included); ``keys`` is the number of distinct valid keys of its main
    table and ``found`` how many of them the database holds after the import."""

    name: str
    read: int = 0
    rejected: int = 0
    duplicates: int = 0
    superseded: int = 0
    tables: dict[str, UpsertCounts] = field(default_factory=dict)
    main_table: str = ""
    keys: int = 0
    found: int | None = None

    def _sum(self, attr: str) -> int | None:
        if not self.tables:
            return None
        return sum(getattr(counts, attr) for counts in self.tables.values())

    @property
    def inserted(self) -> int | None:
        return self._sum("inserted")

    @property
    def updated(self) -> int | None:
        return self._sum("updated")


@dataclass
class ImportSummary:
    files: dict[str, FileResult]
    rejects_file: str
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False
    database: bool = True

    @property
    def has_rejects(self) -> bool:
        """Whether the rejects report was written: only when a row or a file was rejected."""
        return bool(self.failed) or any(r.rejected for r in self.files.values())

    @property
    def rejects_report(self) -> str | None:
        return self.rejects_file if self.has_rejects else None

    @property
    def ok(self) -> bool:
        """No file failed and every file's keys were found back (when a database was used)."""
        return not self.failed and all(
            r.found is None or r.found == r.keys for r in self.files.values()
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": {
                name: {
                    "read": r.read,
                    "inserted": r.inserted,
                    "updated": r.updated,
                    "rejected": r.rejected,
                }
                for name, r in self.files.items()
            },
            "rejects_file": self.rejects_report,
            "verification": {
                name: {
                    "rows_in_file": r.read,
                    "rejected": r.rejected,
                    "duplicate_keys": r.duplicates,
                    "superseded_by_later_file": r.superseded,
                    "table": r.main_table,
                    "keys": r.keys,
                    "found_in_db": r.found,
                    "ok": None if r.found is None else r.found == r.keys,
                }
                for name, r in self.files.items()
            },
            "tables": {
                name: {
                    table: {
                        "inserted": c.inserted,
                        "updated": c.updated,
                        "unchanged": c.unchanged,
                        # TimescaleDB: the compressed chunks written and how (batches/rewrite).
                        **(
                            {"compressed_chunks": [chunk.as_dict() for chunk in c.chunks]}
                            if c.chunks
                            else {}
                        ),
                    }
                    for table, c in r.tables.items()
                }
                for name, r in self.files.items()
            },
            "failed": self.failed,
            "skipped": self.skipped,
            "dry_run": self.dry_run,
            "ok": self.ok,
        }


def default_rejects_path(kind: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / f"krstock-import-{kind}-rejects-{stamp}.csv"


def write_rejects(path: Path, rejects: Iterable[Reject], failed: dict[str, str]) -> bool:
    """The rejects report (UTF-8 with BOM so spreadsheet tools show Korean): one line per
    rejected row, plus one line (no line number) per file that failed as a whole. Written only
    when something was rejected (a clean import leaves no file behind); returns whether."""
    rows = list(rejects)
    if not rows and not failed:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(REJECT_COLUMNS)
        for reject in rows:
            writer.writerow([reject.file, reject.line or "", reject.reason, reject.raw])
        for file, message in failed.items():
            writer.writerow([file, "", f"file not imported: {message}", ""])
    return True
