"""`krstock db ...` end to end: upgrade, check, downgrade, backup/restore round trip, erd."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from krstock.cli import app
from krstock.db.bulk import bulk_upsert
from krstock.db.migrate import head_revision

pytestmark = pytest.mark.integration


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("KRSTOCK_DATABASE_URL", raising=False)
    monkeypatch.delenv("KRSTOCK_MIGRATION_DATABASE_URL", raising=False)
    return CliRunner()


def _json(output: str) -> dict[str, object]:
    return json.loads(output)


def test_upgrade_check_downgrade_on_an_empty_database(
    runner: CliRunner, empty_database_url: str
) -> None:
    url = ["--database-url", empty_database_url]
    before = runner.invoke(app, ["db", "check", *url, "--json"])
    assert before.exit_code == 1
    summary = _json(before.stdout)
    assert summary["connected"] is True and summary["current_revision"] is None
    assert summary["up_to_date"] is False

    up = runner.invoke(app, ["db", "upgrade", *url, "--grant-app-role", "--json"])
    assert up.exit_code == 0, up.output
    head = head_revision()
    assert _json(up.stdout)["to_revision"] == head
    assert _json(up.stdout)["app_role"] == "krstock_app"

    check = runner.invoke(app, ["db", "check", *url, "--json"])
    assert check.exit_code == 0, check.output
    summary = _json(check.stdout)
    assert summary["ok"] is True and summary["schema_in_sync"] is True
    assert summary["timescaledb_installed"] is False or summary["timescaledb_available"]
    assert summary["row_counts"] == {t: 0 for t in summary["row_counts"]}  # type: ignore[union-attr]
    assert summary["app_role"] == {
        "name": "krstock_app",
        "exists": True,
        "can_write": True,
        "can_create_tables": False,
    }

    down = runner.invoke(app, ["db", "downgrade", "0001", *url, "--json"])
    assert down.exit_code == 0, down.output
    assert _json(down.stdout) == {"ok": True, "from_revision": head, "to_revision": "0001"}
    text_check = runner.invoke(app, ["db", "check", *url])
    assert text_check.exit_code == 1
    assert f"revision: 0001 (head {head})" in text_check.stdout


def test_missing_url_is_a_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["db", "check"])
    assert result.exit_code == 2
    assert "KRSTOCK_MIGRATION_DATABASE_URL" in result.stderr


def test_env_url_is_used_and_unreachable_server_fails(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRSTOCK_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = runner.invoke(app, ["db", "check", "--json"])
    assert result.exit_code == 1
    assert _json(result.stdout)["connected"] is False
    assert "cannot check the database" in result.stderr


def test_backup_and_restore_round_trip(
    runner: CliRunner,
    db_url: str,
    db_engine: Engine,
    empty_database_url: str,
    tmp_path: Path,
) -> None:
    prices = pd.DataFrame(
        {
            "ticker": ["000001", "000002", "000003"],
            "date": ["2024-01-02"] * 3,
            "open": [1, 2, 3],
            "high": [1, 2, 3],
            "low": [1, 2, 3],
            "close": [1, 2, 3],
            "volume": [1, 2, 3],
        }
    )
    runs = pd.DataFrame({"id": ["r1"], "kind": ["vcp"], "counts": [{"n": 1}]})
    with db_engine.begin() as conn:
        bulk_upsert(conn, "daily_prices", prices, ["ticker", "date"])
        bulk_upsert(conn, "scan_runs", runs, ["id"])
    dump = tmp_path / "backup" / "krstock.dump"
    backup = runner.invoke(app, ["db", "backup", str(dump), "--database-url", db_url, "--json"])
    assert backup.exit_code == 0, backup.output
    summary = _json(backup.stdout)
    assert dump.is_file() and summary["bytes"] == dump.stat().st_size
    counts = summary["row_counts"]
    assert counts["daily_prices"] == 3 and counts["scan_runs"] == 1  # type: ignore[index]

    restored = runner.invoke(
        app, ["db", "restore", str(dump), "--database-url", empty_database_url, "--json"]
    )
    assert restored.exit_code == 0, restored.output
    assert _json(restored.stdout)["row_counts"] == counts
    check = runner.invoke(app, ["db", "check", "--database-url", empty_database_url, "--json"])
    assert check.exit_code == 0, check.output

    # Restoring again over existing objects fails without --clean and works with it.
    again = runner.invoke(app, ["db", "restore", str(dump), "--database-url", empty_database_url])
    assert again.exit_code == 1
    clean = runner.invoke(
        app, ["db", "restore", str(dump), "--clean", "--database-url", empty_database_url]
    )
    assert clean.exit_code == 0, clean.output
    assert "restored" in clean.stdout

    missing = runner.invoke(
        app, ["db", "restore", str(tmp_path / "nope.dump"), "--database-url", db_url, "--json"]
    )
    assert missing.exit_code == 1
    assert "no backup file" in str(_json(missing.stdout)["error"])


def test_erd_command_writes_the_document(runner: CliRunner, tmp_path: Path) -> None:
    from krstock.db.erd import render_erd

    target = tmp_path / "erd.md"
    result = runner.invoke(app, ["db", "erd", "--output", str(target), "--json"])
    assert result.exit_code == 0
    assert _json(result.stdout)["output"] == str(target)
    assert target.read_text(encoding="utf-8") == render_erd()
    printed = runner.invoke(app, ["db", "erd"])
    assert printed.stdout == render_erd()
    as_json = runner.invoke(app, ["db", "erd", "--json"])
    assert _json(as_json.stdout)["markdown"] == render_erd()
