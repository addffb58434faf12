"""Every CLI mistake ends in one clear line (issue 12): the real ``krstock`` command in a fresh
process, against real PostgreSQL and Redis, as a user runs it. Each case checks the exit code
of the error's class (docs/errors.md), that stderr is a few lines without a traceback, and the
message."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

KRSTOCK = str(Path(sys.executable).parent / "krstock")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Nothing listens here: connections are refused at once.
UNREACHABLE_DB = "postgresql://postgres@127.0.0.1:9/krstock"
UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"
SATURDAY = "2025-06-07"
TRADING_DAY = "2025-06-05"


def krstock(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    """Run the command; the result carries seconds taken."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KRSTOCK_")}
    clean["KRSTOCK_LOG_LEVEL"] = "WARNING"  # a user's terminal shows the error, not info logs
    started = time.monotonic()
    done = subprocess.run(
        [KRSTOCK, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **(env or {})},
        cwd=cwd,
    )
    done.seconds = time.monotonic() - started  # type: ignore[attr-defined]
    return done


def assert_one_line(done: Any, code: int, *fragments: str) -> str:
    """Exit ``code``, at most a few stderr lines, no traceback, the message has ``fragments``."""
    err = done.stderr
    assert done.returncode == code, (done.returncode, err, done.stdout)
    assert "Traceback" not in err and "╭" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, err
    error_line = next(line for line in lines if line.startswith("error: "))
    for fragment in fragments:
        assert fragment in error_line, error_line
    return error_line


def json_error(done: Any) -> dict[str, Any]:
    body = json.loads(done.stdout)
    assert body["ok"] is False and set(body["error"]) == {"type", "message", "hint"}
    error: dict[str, Any] = body["error"]
    return error


# ------------------------------------------------------------------ the database


@pytest.mark.parametrize(
    "command",
    [
        ["scan", "vcp", "--date", TRADING_DAY],
        ["track", "--date", TRADING_DAY],
        ["backtest", "vcp", "--start", "2025-05-02", "--end", TRADING_DAY],
        ["db", "upgrade"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_an_unreachable_database_is_one_line_and_exit_3(command: list[str]) -> None:
    done = krstock(*command, "--database-url", UNREACHABLE_DB)
    assert_one_line(done, 3, "cannot use the database", "port 9", "is PostgreSQL running?")
    assert done.seconds < 10


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung or firewalled server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", [["scan", "vcp", "--date", TRADING_DAY], ["db", "upgrade"]])
def test_a_database_that_never_answers_fails_within_seconds(
    command: list[str], silent_server: int
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{silent_server}/krstock"
    done = krstock(*command, "--database-url", url)
    assert_one_line(done, 3, "cannot use the database: connection timeout expired")
    assert done.seconds < 10


def test_an_unreachable_database_with_json_is_an_error_object() -> None:
    done = krstock("scan", "vcp", "--date", TRADING_DAY, "--database-url", UNREACHABLE_DB, "--json")
    assert_one_line(done, 3, "cannot use the database")
    error = json_error(done)
    assert error["type"] == "ServiceUnavailable" and "KRSTOCK_DATABASE_URL" in error["hint"]


def test_an_unmigrated_database_says_to_run_db_upgrade(empty_database_url: str) -> None:
    done = krstock("scan", "vcp", "--date", TRADING_DAY, "--database-url", empty_database_url)
    assert_one_line(done, 3, "the database is not migrated", "krstock db upgrade")


def test_db_upgrade_of_an_empty_database_says_so(empty_database_url: str) -> None:
    done = krstock("db", "upgrade", "--database-url", empty_database_url)
    assert done.returncode == 0, done.stderr
    from krstock.db.migrate import head_revision

    assert done.stdout.strip() == f"upgraded empty database → {head_revision()}"
    assert "None" not in done.stdout


def test_debug_keeps_the_traceback() -> None:
    done = krstock("--debug", "track", "--date", TRADING_DAY, "--database-url", UNREACHABLE_DB)
    assert done.returncode != 0 and "Traceback" in done.stderr
    env = {"KRSTOCK_DEBUG": "1"}
    done = krstock("track", "--date", TRADING_DAY, "--database-url", UNREACHABLE_DB, env=env)
    assert done.returncode != 0 and "Traceback" in done.stderr


# ------------------------------------------------------------------ usage


def test_usage_mistakes_are_one_line_and_exit_2() -> None:
    done = krstock("scan", "vcp")
    assert_one_line(done, 2, "Missing option '--date'", "see 'krstock scan vcp --help'")
    done = krstock("scan", "vcp", "--date", "12/27/2025", "--json")
    assert_one_line(done, 2, "'12/27/2025' is not a date")
    assert json_error(done)["type"] == "UsageError"
    done = krstock("enqueue", "scan", "--date", TRADING_DAY)
    assert_one_line(done, 2, "error: scan needs --kind")
    help_shown = krstock("db")  # a bare group shows its help, as before
    assert "Usage" in help_shown.stdout + help_shown.stderr


# ------------------------------------------------------------------ dates


def test_a_weekend_is_not_a_trading_day(db_url: str) -> None:
    done = krstock("scan", "vcp", "--date", SATURDAY, "--database-url", db_url)
    line = assert_one_line(done, 1, "not a KRX trading day (Weekend)", "2025-06-05")
    assert "collect that day first" not in line


def test_a_trading_day_without_prices_says_to_collect_it(db_url: str) -> None:
    done = krstock("track", "--date", TRADING_DAY, "--database-url", db_url)
    assert_one_line(done, 1, "no daily prices on 2025-06-05", "krstock collect")


# ------------------------------------------------------------------ policy files


def test_a_malformed_policy_yaml_is_one_line_and_json(db_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "broken.yaml"
    policy.write_text("spec:\n  vcp:\n    min_contractions: [3\n", encoding="utf-8")
    args = ["scan", "vcp", "--date", TRADING_DAY, "--database-url", db_url, "--policy", str(policy)]
    done = krstock(*args)
    assert_one_line(done, 1, "broken.yaml", "not valid YAML", "line")
    done = krstock(*args, "--json")
    assert_one_line(done, 1, "not valid YAML")
    error = json_error(done)
    assert error["type"] == "InputError" and "docs/policies.md" in error["hint"]


def test_a_wrong_policy_field_is_named(db_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "wrong.yaml"
    resource = yaml.safe_load((EXAMPLES / "signalpolicy-tighter-vcp.yaml").read_text())
    resource["spec"]["vcp"]["min_contractions"] = "three"
    resource["spec"]["vcp"]["max_depth_typo"] = 0.1
    policy.write_text(yaml.safe_dump(resource), encoding="utf-8")
    done = krstock(
        "scan", "vcp", "--date", TRADING_DAY, "--database-url", db_url, "--policy", str(policy)
    )
    assert_one_line(
        done, 1, "spec.vcp.min_contractions", "'three'", "spec.vcp.max_depth_typo: Extra inputs"
    )


def test_a_missing_policy_file_says_what_policy_takes(db_url: str) -> None:
    done = krstock(
        "track", "--date", TRADING_DAY, "--database-url", db_url, "--policy", "nope.yaml"
    )
    assert_one_line(done, 1, "policy file not found: nope.yaml", "monolith, p10")


def _api_policy_body() -> dict[str, Any]:
    """What GET /api/v1/policies/monolith answers (its handler's body)."""
    from krstock.api.routes.v1.policies import policy

    return policy("monolith")


def test_policy_files_in_every_accepted_shape(db_url: str, tmp_path: Path) -> None:
    collected = krstock(
        "collect", "--source", "sample", "--start", "2025-06-02", "--end", TRADING_DAY,
        "--database-url", db_url,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    bare = tmp_path / "bare.yaml"
    bare.write_text("extends: p10\nvcp:\n  min_contractions: 3\n", encoding="utf-8")
    api = tmp_path / "api.json"
    api.write_text(json.dumps(_api_policy_body()), encoding="utf-8")
    expected = {
        EXAMPLES / "signalpolicy-default.yaml": "krstock-default",
        EXAMPLES / "signalpolicy-tighter-vcp.yaml": "tighter-vcp",
        bare: "p10",
        api: "monolith",
    }
    for file, name in expected.items():
        done = krstock(
            "scan", "vcp", "--date", TRADING_DAY, "--database-url", db_url,
            "--policy", str(file), "--json",
        )  # fmt: skip
        assert done.returncode == 0, (file, done.stderr)
        assert json.loads(done.stdout)["policy"] == name, file


# ------------------------------------------------------------------ Redis


def test_enqueue_wait_with_redis_down_fails_fast_in_one_line() -> None:
    done = krstock(
        "enqueue", "scan", "--kind", "vcp", "--date", TRADING_DAY, "--wait",
        env={"KRSTOCK_REDIS_URL": UNREACHABLE_REDIS},
    )  # fmt: skip
    assert_one_line(done, 3, "cannot reach Redis at 127.0.0.1:9", "KRSTOCK_REDIS_URL")
    assert done.seconds < 10


# ------------------------------------------------------------------ loose ends


def test_a_clean_import_leaves_no_rejects_file(db_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "korean_stocks_list.csv").write_text(
        "ticker,name,market,sector\n005930,삼성전자,KOSPI,\n", encoding="utf-8"
    )
    work = tmp_path / "work"
    work.mkdir()
    done = krstock("import", "legacy", str(data), "--database-url", db_url, cwd=work)
    assert done.returncode == 0, done.stderr
    assert "no rows rejected (no rejects report)" in done.stdout
    assert list(work.iterdir()) == []
    done = krstock("import", "legacy", str(data), "--database-url", db_url, "--json", cwd=work)
    assert json.loads(done.stdout)["rejects_file"] is None and list(work.iterdir()) == []


def test_an_empty_scan_and_a_backtest_say_why_in_text(db_url: str) -> None:
    collected = krstock(
        "collect", "--source", "sample", "--start", "2025-06-02", "--end", TRADING_DAY,
        "--database-url", db_url,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    done = krstock("scan", "closing-bet", "--date", TRADING_DAY, "--database-url", db_url)
    assert done.returncode == 0, done.stderr
    # A few days of prices: the scan says the history is short and how to get it.
    assert "trading days of prices up to 2025-06-05; the scan reads" in done.stdout
    assert "to get it: krstock collect" in done.stdout
    done = krstock(
        "backtest", "vcp", "--start", "2025-06-02", "--end", TRADING_DAY, "--database-url", db_url
    )
    assert done.returncode == 0, done.stderr
    assert "None" not in done.stdout and "benchmark " in done.stdout
