"""A clean import leaves no rejects report behind, and its summary says there is none."""

from __future__ import annotations

from pathlib import Path

from krstock.ingest.report import FileResult, ImportSummary, write_rejects


def test_no_rejects_no_file(tmp_path: Path) -> None:
    path = tmp_path / "rejects.csv"
    assert write_rejects(path, [], {}) is False
    assert not path.exists()
    assert write_rejects(path, [], {"x.csv": "empty file"}) is True and path.exists()


def test_the_summary_names_the_report_only_when_written() -> None:
    clean = ImportSummary(files={"a.csv": FileResult(name="a.csv", read=3)}, rejects_file="r.csv")
    assert clean.rejects_report is None and clean.to_dict()["rejects_file"] is None
    rejected = ImportSummary(
        files={"a.csv": FileResult(name="a.csv", read=3, rejected=1)}, rejects_file="r.csv"
    )
    assert rejected.to_dict()["rejects_file"] == "r.csv"
