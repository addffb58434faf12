"""Imported history that cannot be right is kept, flagged and reported (issue 12, item 7); each
imported signal names the preset its file came from.

The real monolith ledger closes ten rows on their signal day (an entry is the signal day's
close: no exit can come that day) and has 009810 go 261 → 1,350 (+417 %) in three sessions,
which KRX's ±30 % daily limit does not allow (at most ×1.3³ = ×2.197).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from helpers.legacy_folder import legacy_root
from sqlalchemy import text

from krstock.db.session import make_engine
from krstock.ingest.importer import import_legacy
from krstock.marketdata.legacy_quality import closing_bet_preset

pytestmark = pytest.mark.integration

FILES = (
    "korean_stocks_list.csv",
    "signals_log.csv",
    "jongga_v2_results_20260115.json",
    "jongga_v2_results_20260205.json",
)


@pytest.fixture(scope="module")
def imported(
    shared_data: Path,
    fresh_database: Callable[[], AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    root = legacy_root(shared_data, tmp_path_factory.mktemp("flags"), FILES)
    with fresh_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            summary = import_legacy(root, engine, rejects_path=root / "r.csv")
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT ticker, signal_date::text, payload->'quality_flags' AS flags "
                        "FROM signals WHERE payload ? 'quality_flags'"
                    )
                ).all()
                presets = dict(
                    conn.execute(
                        text(
                            "SELECT strategy || ' ' || signal_date::text, min(policy_name) "
                            "FROM signals GROUP BY 1 HAVING count(DISTINCT policy_name) = 1"
                        )
                    ).all()
                )
                nulls = conn.execute(
                    text("SELECT count(*) FROM signals WHERE policy_name IS NULL")
                ).scalar_one()
            yield {
                "summary": summary.to_dict(),
                "summary_object": summary,
                "rows": rows,
                "presets": presets,
                "nulls": nulls,
            }
        finally:
            engine.dispose()


def test_the_import_report_lists_the_rows_that_cannot_be_right(imported: dict[str, Any]) -> None:
    flagged = imported["summary"]["flagged"]["signals_log.csv"]
    assert flagged["rows"] == 12
    assert flagged["by_flag"] == {"closed_on_signal_day": 10, "beyond_price_limit": 2}
    beyond = {(r["ticker"], r["signal_date"], r["exit_price"]) for r in flagged["items"]
              if r["flags"] == ["beyond_price_limit"]}  # fmt: skip
    assert beyond == {("009810", "2026-02-06", 1350.0), ("009810", "2026-02-09", 1284.0)}
    same_day = [r for r in flagged["items"] if r["flags"] == ["closed_on_signal_day"]]
    assert all(r["exit_date"] == r["signal_date"] for r in same_day)
    # Kept (user data), every one of them, and the summary is still ok.
    summary = imported["summary"]
    assert summary["ok"] and summary["verification"]["signals_log.csv"]["found_in_db"] == 981
    assert len(imported["rows"]) == 12


def test_every_imported_signal_names_its_preset(imported: dict[str, Any]) -> None:
    assert imported["nulls"] == 0
    presets = imported["presets"]
    # The original engine's files stay within its floors (≥ 500억 traded, ≥ 5 % up) ...
    assert presets["closing-bet 2026-01-15"] == "monolith"
    # ... the 2026-02-05 file holds signals below them: p10's lowered thresholds.
    assert presets["closing-bet 2026-02-05"] == "p10"
    assert {v for k, v in presets.items() if k.startswith("vcp-legacy")} == {"monolith"}


def test_preset_rule_on_single_items() -> None:
    monolith = {"trading_value": 60_000_000_000, "change_pct": 7.5}
    assert closing_bet_preset([monolith]) == "monolith"
    assert closing_bet_preset([monolith, {**monolith, "trading_value": 2_011_968_220}]) == "p10"
    assert closing_bet_preset([{**monolith, "change_pct": 4.7}]) == "p10"


def test_the_text_report_says_which_rows_are_flagged(
    imported: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from krstock.commands.ingest import _print_summary

    _print_summary(imported["summary_object"])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("flagged in"))
    assert line.startswith("flagged in signals_log.csv: 12 rows whose numbers cannot be right")
    assert "beyond_price_limit" in line and "closed_on_signal_day" in line
    assert "include_flagged=true" in line
