"""The real files: every legacy file loads with zero rejects, the pykrx folder loads all
107,052 rows, each verified against the database, and a second run changes nothing.

Each import runs twice per module on its own migrated database (the real daily_prices.csv has
102,275 rows, so it is loaded once per module, not per test).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from krstock.db.session import make_engine
from krstock.ingest.importer import import_krx_csv, import_legacy

pytestmark = pytest.mark.integration

LEGACY_FILES = {
    "korean_stocks_list.csv": 1951,
    "ticker_to_yahoo_map.csv": 2760,
    "daily_prices.csv": 102_275,
    "all_institutional_trend_data.csv": 50_843,
    "signals_log.csv": 981,
    "jongga_v2_results_20260115.json": 2,
    "jongga_v2_results_20260116.json": 6,
    "jongga_v2_results_20260205.json": 43,
    "history/kr_ai_analysis_2025-12-29.json": 10,
    "history/kr_ai_analysis_20260115.json": 10,
}


SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@contextmanager
def cloned_database(admin_url: str, template: str) -> Iterator[str]:
    """A copy of the migrated template, dropped afterwards."""
    name = f"krstock_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _folder(name: str) -> Path:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (real data lives beside the project)")
    return folder


@pytest.fixture(scope="module")
def runs(
    admin_url: str, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """One database: the legacy folder twice, then the pykrx folder twice (its prices share
    keys with the legacy Gen1 file, which was built from it), then the legacy folder again."""
    legacy, krx = _folder("legacy"), _folder("krx-daily")
    rejects = tmp_path_factory.mktemp("rejects")
    with cloned_database(admin_url, migrated_template) as url:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            out: dict[str, Any] = {"url": url, "rejects": rejects / "legacy.csv"}
            out["legacy"] = [
                import_legacy(legacy, engine, rejects_path=out["rejects"]) for _ in range(2)
            ]
            out["krx"] = [
                import_krx_csv(krx, engine, rejects_path=rejects / "krx.csv") for _ in range(2)
            ]
            out["krx_rows"] = _scalar(url, "SELECT count(*) FROM daily_prices")
            out["krx_sourced"] = _scalar(
                url, "SELECT count(*) FROM daily_prices WHERE source = 'krx-csv'"
            )
            out["legacy_after_krx"] = import_legacy(legacy, engine, rejects_path=out["rejects"])
        finally:
            engine.dispose()
        yield out


def _scalar(url: str, sql: str) -> Any:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_every_legacy_file_loads_with_zero_rejects_and_verifies(runs: dict[str, Any]) -> None:
    first, rejects = runs["legacy"][0], runs["rejects"]
    body = first.to_dict()
    assert body["failed"] == {} and body["skipped"] == []
    assert {name: f["read"] for name, f in body["files"].items()} == LEGACY_FILES
    assert all(f["rejected"] == 0 for f in body["files"].values())
    assert all(v["ok"] for v in body["verification"].values()), body["verification"]
    assert body["files"]["daily_prices.csv"]["inserted"] >= 102_275
    assert not rejects.exists()  # nothing rejected: no report written


def test_second_legacy_run_changes_nothing(runs: dict[str, Any]) -> None:
    second = runs["legacy"][1]
    files = second.to_dict()["files"]
    assert {(f["inserted"], f["updated"]) for f in files.values()} == {(0, 0)}
    assert second.ok


def test_legacy_rows_in_the_database_keep_units_and_names(runs: dict[str, Any]) -> None:
    url = runs["url"]
    assert runs["legacy"][0].files["daily_prices.csv"].found == 102_275
    assert _scalar(url, "SELECT count(*) FROM investor_flows") == 2 * 50_843
    assert (
        _scalar(
            url,
            "SELECT net_value FROM investor_flows WHERE ticker = '000020' "
            "AND date = '2026-01-05' AND investor = 'foreign' AND net_volume IS NULL",
        )
        == -51_124_195
    )
    assert (
        _scalar(
            url,
            "SELECT count(*) FROM signals WHERE strategy = 'vcp-legacy' AND flow_unit = 'shares'",
        )
        == 981
    )
    assert _scalar(url, "SELECT count(*) FROM signals WHERE status = 'CLOSED'") == 813
    assert _scalar(url, "SELECT count(*) FROM signals WHERE strategy = 'closing-bet'") == 51
    assert _scalar(url, "SELECT count(*) FROM scan_runs WHERE source = 'legacy'") == 5
    assert _scalar(url, "SELECT count(*) FROM ai_analyses") == 18
    assert (
        _scalar(
            url,
            "SELECT name || '|' || market || '|' || yahoo_symbol FROM stocks "
            "WHERE ticker = '005930'",
        )
        == "삼성전자|KOSPI|005930.KS"
    )
    for table in ("daily_prices", "investor_flows", "signals", "ai_analyses"):
        orphans = _scalar(
            url,
            f"SELECT count(*) FROM {table} t LEFT JOIN stocks s USING (ticker) "
            "WHERE s.ticker IS NULL",
        )
        assert orphans == 0, table
    halted = _scalar(url, "SELECT count(*) FROM daily_prices WHERE halted AND volume = 0")
    assert halted == _scalar(url, "SELECT count(*) FROM daily_prices WHERE halted") > 0


def test_krx_folder_loads_every_row_and_a_second_run_changes_nothing(
    runs: dict[str, Any],
) -> None:
    url = runs["url"]
    first, second = runs["krx"]
    result = first.files["krx-daily"]
    assert (result.read, result.rejected, result.keys, result.found) == (
        107_052,
        0,
        107_052,
        107_052,
    )
    prices = result.tables["daily_prices"]
    # The legacy Gen1 file holds 102,275 of these days (from 2024-01-02): the last import wins.
    assert (prices.inserted, prices.updated) == (107_052 - 102_275, 102_275)
    again = second.to_dict()["files"]["krx-daily"]
    assert (again["inserted"], again["updated"]) == (0, 0)
    assert runs["krx_sourced"] == runs["krx_rows"] == 107_052
    assert _scalar(url, "SELECT count(*) FROM daily_prices WHERE halted") == 1813


def test_legacy_prices_after_krx_keep_the_exchange_digits(runs: dict[str, Any]) -> None:
    """The Gen1 file rounds change_rate to 2 decimals and was built from the pykrx folder.
    Loaded after it, it changes nothing: every rate it holds is a pykrx rate rounded, and the 19
    rates pykrx left empty kept the Gen1 values through the pykrx loads (an empty derived value
    is "not given"). Every row keeps its krx-csv values, digits and source."""
    url = runs["url"]
    prices = runs["legacy_after_krx"].files["daily_prices.csv"].tables["daily_prices"]
    assert (prices.inserted, prices.updated, prices.unchanged) == (0, 0, 102_275)
    assert _scalar(url, "SELECT count(*) FROM daily_prices WHERE source = 'krx-csv'") == 107_052
    # The days the Gen1 file covers all have a rate (its 19 fills survived the pykrx loads).
    assert (
        _scalar(
            url,
            "SELECT count(*) FROM daily_prices WHERE change_pct IS NULL AND date >= '2024-01-02'",
        )
        == 0
    )
    # The stored rates are pykrx's full-precision ones, not the file's 2-decimal copies.
    assert (
        _scalar(
            url,
            "SELECT count(*) FROM daily_prices WHERE change_pct <> round(change_pct::numeric, 2)",
        )
        > 90_000
    )
