"""``krstock bench scan-db`` on a small sample market: the raw COPY baseline reads the rows the
scan reads, and every kind reports copy_s, scan_s and their ratio next to the old fields."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from krstock.benchmarks import scan_db
from krstock.cli import app
from krstock.db.reader import trading_days

pytestmark = pytest.mark.integration

DAY = date(2025, 12, 30)


@pytest.fixture
def market(db_url: str) -> str:
    scan_db.fill_with_sample(db_url, tickers=60, day=DAY, days=270)
    return db_url


def test_baseline_reads_the_scans_rows(market: str, db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        dates = trading_days(conn, DAY, 260)
        prices_only = scan_db.baseline_statements(conn, DAY, 260, 0)
        with_flows = scan_db.baseline_statements(conn, DAY, 260, 60)
    assert len(prices_only) == 1 and len(with_flows) == 2
    assert f"BETWEEN '{dates[0]}' AND '{dates[-1]}'" in prices_only[0]
    assert "FROM investor_flows" in with_flows[1]
    assert f"BETWEEN '{dates[-60]}' AND '{dates[-1]}'" in with_flows[1]
    assert scan_db.copy_seconds(db_engine, with_flows) > 0


def test_measure_reports_copy_scan_and_ratio_per_kind(market: str) -> None:
    figures = scan_db.measure(market, DAY, ["trend-template", "closing-bet"], repeat=2)
    assert (figures["tickers"], figures["days"]) == (60, 260)
    for kind in ("trend-template", "closing-bet"):
        s = figures["scans"][kind]
        assert set(s) >= {"scan_s", "first_s", "copy_s", "ratio", "meets_ratio", "signals"}
        assert s["copy_s"] > 0 and s["scan_s"] > 0
        assert s["ratio"] == pytest.approx(s["scan_s"] / s["copy_s"], rel=0.1)  # both rounded
        assert (
            s["meets_ratio"] is (s["ratio"] <= scan_db.TARGET_RATIO) or abs(s["ratio"] - 1.5) < 0.01
        )
        assert s["scanned"] == 60


def test_command_prints_the_ratio_as_json_and_as_a_table(market: str) -> None:
    runner = CliRunner()
    args = ["bench", "scan-db", "--database-url", market, "--kind", "trend-template"]
    result = runner.invoke(app, [*args, "--repeat", "1", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout[result.stdout.index("{") :])
    assert figures["target_ratio"] == 1.5 and isinstance(figures["meets_ratio"], bool)
    assert set(figures["scans"]) == {"trend-template"}
    assert {"window_load_s", "target_scan_s", "meets_target"} <= set(figures)
    table = runner.invoke(app, [*args, "--repeat", "1"])
    assert table.exit_code == 0, table.output
    assert "copy_s" in table.stdout and "ratio" in table.stdout
    assert "within 1.5x of the raw COPY" in table.stdout
