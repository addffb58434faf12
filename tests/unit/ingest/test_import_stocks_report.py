"""The stock merge policies and the import report (summary shape, rejects CSV)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from krstock.db.bulk import UpsertCounts
from krstock.ingest.report import FileResult, ImportSummary, write_rejects
from krstock.ingest.stocks import WRITE_COLUMNS, merge_stocks
from krstock.marketdata.legacy_io import Reject, stock_frame


def stored(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ticker": "005930",
        "name": "삼성전자",
        "market": "KOSPI",
        "sector": None,
        "listing_status": "LISTED",
        "is_etf": False,
        "is_etn": False,
        "is_spac": False,
        "is_reit": False,
        "is_preferred": False,
        "yahoo_symbol": None,
        "source": "legacy",
    }
    row.update(values)
    return row


def incoming(name: str = "", market: str | None = None, yahoo: str | None = None):  # type: ignore[no-untyped-def]
    return stock_frame(
        ["005930"],
        [name],
        [market],
        listing_status="UNKNOWN",
        source="krx-csv",
        yahoo_symbols=[yahoo],
    )


def test_new_tickers_are_inserted_as_the_file_describes_them() -> None:
    merged = merge_stocks(incoming("삼성"), {}, "fill")
    assert list(merged.columns) == WRITE_COLUMNS
    assert merged.iloc[0]["name"] == "삼성" and merged.iloc[0]["source"] == "krx-csv"


def test_fill_never_overwrites_known_values_but_fills_unknown_ones() -> None:
    known = merge_stocks(incoming("다른이름", "KOSDAQ"), {"005930": stored()}, "fill").iloc[0]
    assert (known["name"], known["market"], known["listing_status"]) == (
        "삼성전자",
        "KOSPI",
        "LISTED",
    )
    unknown = stored(name="", market="UNKNOWN", listing_status="UNKNOWN", source=None)
    filled = merge_stocks(incoming("삼성전자", "KOSPI"), {"005930": unknown}, "fill").iloc[0]
    assert (filled["name"], filled["market"], filled["source"]) == ("삼성전자", "KOSPI", "krx-csv")
    assert filled["listing_status"] == "UNKNOWN"


def test_authority_overwrites_names_and_markets_but_not_with_unknowns() -> None:
    frame = stock_frame(
        ["005930"], ["삼성전자(주)"], ["KOSPI"], listing_status="LISTED", source="legacy"
    )
    merged = merge_stocks(frame, {"005930": stored(name="old", is_etf=True)}, "authority").iloc[0]
    assert merged["name"] == "삼성전자(주)" and bool(merged["is_etf"])  # ETF flag kept
    blank = stock_frame(["005930"], [""], [None], listing_status="LISTED", source="legacy")
    kept = merge_stocks(blank, {"005930": stored(sector="반도체")}, "authority").iloc[0]
    assert (kept["name"], kept["market"], kept["sector"]) == ("삼성전자", "KOSPI", "반도체")


def test_yahoo_mode_sets_the_symbol_only() -> None:
    merged = merge_stocks(
        incoming("삼성", "KOSDAQ", "005930.KS"), {"005930": stored(yahoo_symbol="OLD.KS")}, "yahoo"
    ).iloc[0]
    assert merged["yahoo_symbol"] == "005930.KS"
    assert (merged["name"], merged["market"]) == ("삼성전자", "KOSPI")


def test_summary_shape_and_ok() -> None:
    result = FileResult(
        name="daily_prices.csv",
        read=3,
        rejected=1,
        duplicates=1,
        main_table="daily_prices",
        keys=1,
        found=1,
        tables={"stocks": UpsertCounts(1, 0, 0), "daily_prices": UpsertCounts(1, 0, 0)},
    )
    summary = ImportSummary(files={"daily_prices.csv": result}, rejects_file="/tmp/r.csv")
    body = summary.to_dict()
    assert body["files"] == {
        "daily_prices.csv": {"read": 3, "inserted": 2, "updated": 0, "rejected": 1}
    }
    assert body["rejects_file"] == "/tmp/r.csv"
    assert body["verification"]["daily_prices.csv"]["ok"] is True
    assert body["tables"]["daily_prices.csv"]["daily_prices"]["inserted"] == 1
    assert summary.ok
    result.found = 0
    assert not summary.ok
    parse_only = FileResult(name="x.csv", read=2)
    assert parse_only.inserted is None and parse_only.updated is None
    failed = ImportSummary(files={}, rejects_file="r", failed={"x.csv": "bad"})
    assert not failed.ok


def test_rejects_csv_lists_rows_and_failed_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "rejects.csv"
    write_rejects(
        path,
        [Reject("a.csv", 3, "missing close", "005930,2024-01-02,,")],
        {"b.csv": "b.csv: empty file (no header line)"},
    )
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["file", "line", "reason", "raw"],
        ["a.csv", "3", "missing close", "005930,2024-01-02,,"],
        ["b.csv", "", "file not imported: b.csv: empty file (no header line)", ""],
    ]
