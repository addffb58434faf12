"""``krstock import`` on small folders the tests write: summary shape, rejects report, fatal
files leaving the database unchanged, dry run, re-runs, missing database URL."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from krstock.cli import app


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reject reports without --rejects go to the working directory: keep them out of the repo."""
    monkeypatch.chdir(tmp_path)


pytestmark = pytest.mark.integration

STOCKS = "ticker,name,market,sector\n005930,삼성전자,KOSPI,\n000660,SK하이닉스,KOSPI,\n"
PRICES = (
    "ticker,date,name,current_price,change,change_rate,high,low,open,volume,update_time\n"
    "005930,2026-02-09,삼성전자,71000,0,0.0,71500,70000,70500,100,2026-02-09 16:00:00\n"
    "005930,2026-02-10,삼성전자,72000,1000,1.41,72500,70800,71000,200,2026-02-10 16:00:00\n"
    "005930,2026-02-11,삼성전자,72000,0,0.0,0,0,0,0,2026-02-11 16:00:00\n"
    "123456,2026-02-10,새종목,abc,0,0.0,1,1,1,1,2026-02-10 16:00:00\n"
    "123456,2026-02-11,새종목,1000,0,0.0,1000,1000,1000,5,2026-02-11 16:00:00\n"
)
SUMMARY_KEYS = {
    "files",
    "rejects_file",
    "verification",
    "tables",
    "failed",
    "skipped",
    "dry_run",
    "ok",
}
FILE_KEYS = {"read", "inserted", "updated", "rejected"}


@pytest.fixture
def legacy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "korean_stocks_list.csv").write_bytes(b"\xef\xbb\xbf" + STOCKS.encode())
    (folder / "daily_prices.csv").write_bytes(PRICES.encode("cp949"))
    (folder / "daily_report.json").write_text("{}")
    return folder


def invoke(args: list[str]) -> tuple[int, Any, str]:
    result = CliRunner().invoke(app, args)
    try:
        body = json.loads(result.stdout)
    except json.JSONDecodeError:
        body = None
    return result.exit_code, body, result.output


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_legacy_json_summary_rejects_and_rerun(
    legacy_dir: Path, db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.csv"
    args = ["import", "legacy", str(legacy_dir), "--json", "--database-url", db_url]
    # A dry run first: exact would-be counts, nothing written.
    code, dry, _ = invoke([*args, "--dry-run", "--rejects", str(tmp_path / "dry.csv")])
    assert code == 0 and dry["dry_run"] is True
    assert dry["files"]["daily_prices.csv"]["inserted"] == 5
    assert dry["verification"]["daily_prices.csv"]["ok"] is True
    assert count(db_engine, "SELECT count(*) FROM daily_prices") == 0
    assert count(db_engine, "SELECT count(*) FROM stocks") == 0
    code, body, output = invoke([*args, "--rejects", str(rejects)])
    assert code == 0, output
    assert set(body) == SUMMARY_KEYS | {"flagged"}  # a legacy import reports flagged rows
    assert body["flagged"] == {}  # nothing impossible in these rows
    assert set(body["files"]) == {"korean_stocks_list.csv", "daily_prices.csv"}
    assert all(set(entry) == FILE_KEYS for entry in body["files"].values())
    prices = body["files"]["daily_prices.csv"]
    assert (prices["read"], prices["rejected"]) == (5, 1)
    assert prices["inserted"] == 4 + 1  # four price rows and the unknown stock 123456
    assert body["verification"]["daily_prices.csv"]["found_in_db"] == 4
    assert body["skipped"] == ["daily_report.json"]
    assert body["rejects_file"] == str(rejects)
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][:3] == ["daily_prices.csv", "5", "non-numeric current_price: 'abc'"]
    assert count(db_engine, "SELECT count(*) FROM daily_prices WHERE halted") == 1
    assert (
        count(
            db_engine,
            "SELECT count(*) FROM stocks WHERE ticker = '123456' "
            "AND name = '새종목' AND market = 'UNKNOWN'",
        )
        == 1
    )
    code, again, _ = invoke([*args, "--rejects", str(tmp_path / "again.csv")])
    assert code == 0
    assert {(f["inserted"], f["updated"]) for f in again["files"].values()} == {(0, 0)}
    # The bench refuses a database that holds data (it truncates daily_prices).
    code, _, output = invoke(
        ["bench", "ingest", "--database-url", db_url, "--krx-dir", str(legacy_dir),
         "--legacy-prices", str(legacy_dir / "daily_prices.csv")]
    )  # fmt: skip
    assert code == 2 and "must name an empty, migrated database" in output
    assert count(db_engine, "SELECT count(*) FROM daily_prices") == 4


def test_fatal_files_leave_the_database_unchanged_and_the_rest_loads(
    legacy_dir: Path, db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    (legacy_dir / "signals_log.csv").write_text(
        "signal_date;ticker;status\n2026-02-05;000100;OPEN\n"
    )
    (legacy_dir / "all_institutional_trend_data.csv").write_text("")
    too_long = {"ticker": "005930", "analysis_source": "x" * 40, "news": []}
    (legacy_dir / "kr_ai_analysis.json").write_text(
        json.dumps({"signal_date": "2026-02-10", "signals": [too_long]})
    )
    rejects = tmp_path / "r.csv"
    code, body, _ = invoke(
        ["import", "legacy", str(legacy_dir), "--json", "--database-url", db_url,
         "--rejects", str(rejects)]
    )  # fmt: skip
    assert code == 1  # a file failed
    assert set(body["failed"]) == {
        "signals_log.csv",
        "all_institutional_trend_data.csv",
        "kr_ai_analysis.json",
    }
    assert "';'-delimited" in body["failed"]["signals_log.csv"]
    assert "empty file" in body["failed"]["all_institutional_trend_data.csv"]
    assert "rolled back" in body["failed"]["kr_ai_analysis.json"]
    assert count(db_engine, "SELECT count(*) FROM signals") == 0
    assert count(db_engine, "SELECT count(*) FROM investor_flows") == 0
    assert count(db_engine, "SELECT count(*) FROM scan_runs") == 0  # its run row rolled back too
    assert count(db_engine, "SELECT count(*) FROM daily_prices") == 4
    reasons = [row[2] for row in csv.reader(rejects.open(encoding="utf-8-sig"))]
    assert sum(reason.startswith("file not imported") for reason in reasons) == 3


def test_dry_run_without_a_database_parses_only(
    legacy_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from krstock.config import get_settings

    monkeypatch.delenv("KRSTOCK_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        code, body, _ = invoke(
            ["import", "legacy", str(legacy_dir), "--dry-run", "--json",
             "--rejects", str(tmp_path / "r.csv")]
        )  # fmt: skip
        assert code == 0
        assert body["files"]["daily_prices.csv"] == {
            "read": 5, "inserted": None, "updated": None, "rejected": 1,
        }  # fmt: skip
        code, _, output = invoke(["import", "legacy", str(legacy_dir)])
        assert code == 2 and "KRSTOCK_DATABASE_URL" in output
    finally:
        get_settings.cache_clear()


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    db_url = "postgresql://nobody@127.0.0.1:1/none"  # never connected: the folder check is first
    code, _, output = invoke(["import", "legacy", str(tmp_path / "nope"), "--database-url", db_url])
    assert code == 2 and "is not a folder" in output
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, output = invoke(["import", "legacy", str(empty), "--database-url", db_url])
    assert code == 2 and "no monolith data files" in output
    code, _, output = invoke(["import", "krx-csv", str(empty), "--database-url", db_url])
    assert code == 2 and "no *.csv files" in output
    (empty / "korean_stocks_list.csv").write_text(STOCKS)
    code, _, output = invoke(["import", "legacy", str(empty), "--database-url", db_url])
    assert code == 3 and "cannot use the database" in output


def test_krx_csv_command(db_url: str, db_engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "krx"
    folder.mkdir()
    lines = [
        "날짜,시가,고가,저가,종가,거래량,등락률",
        "2024-01-02,1,2,1,2,3,",
        "2024-01-03,x,2,1,2,3,",
    ]
    (folder / "005930.csv").write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())
    args = ["import", "krx-csv", str(folder), "--json", "--database-url", db_url,
            "--rejects", str(tmp_path / "r.csv")]  # fmt: skip
    code, body, output = invoke(args)
    assert code == 0, output
    assert set(body) == SUMMARY_KEYS
    assert body["files"] == {"krx": {"read": 2, "inserted": 2, "updated": 0, "rejected": 1}}
    assert count(db_engine, "SELECT count(*) FROM daily_prices") == 1
    code, again, _ = invoke(args)
    assert again["files"]["krx"]["inserted"] == 0 and again["files"]["krx"]["updated"] == 0
    human = ["import", "krx-csv", str(folder), "--database-url", db_url,
             "--rejects", str(tmp_path / "r2.csv")]  # fmt: skip
    code, _, output = invoke(human)
    assert code == 0 and "krx" in output and "rejects report" in output


def test_an_unmigrated_database_is_a_clear_error(
    legacy_dir: Path, empty_database_url: str, tmp_path: Path
) -> None:
    code, _, output = invoke(
        ["import", "legacy", str(legacy_dir), "--database-url", empty_database_url,
         "--rejects", str(tmp_path / "r.csv")]
    )  # fmt: skip
    assert code == 2 and "krstock db upgrade" in output


def _write_other_generations(folder: Path) -> None:
    """Gen2 prices and ledger, the Gen1 flow summary, and latest files that repeat a dated one."""
    from krstock.marketdata.legacy import FLOW_SUMMARY_COLUMNS

    (folder / "daily_prices.csv").write_text(
        "date,ticker,open,high,low,close,volume,trading_value\n"
        "20260210,5930,71000,72500,70800,72000,200,14400000\n"
        "2026-02-11,005930,0,0,0,72000,0,\n"
    )
    summary = {c: "1" for c in FLOW_SUMMARY_COLUMNS}
    summary.update(ticker="5930", scrape_date="2026-02-10 15:30:00", institutional_trend="buying")
    (folder / "all_institutional_trend_data.csv").write_text(
        ",".join(FLOW_SUMMARY_COLUMNS) + "\n" + ",".join(summary.values()) + "\n"
    )
    (folder / "signals_log.csv").write_text(
        "ticker,name,signal_date,market,status,score,contraction_ratio,entry_price,foreign_5d,"
        "inst_5d,vcp_score,current_price,ai_action,ai_confidence,ai_reason,return_pct\n"
        "005930,삼성전자,2026-02-10,KOSPI,OPEN,80,0.4,72000,1000000000,-5,12,73000,BUY,80,좋음,1.39\n"
    )
    item = {
        "stock_code": "005930", "stock_name": "삼성전자", "market": "KOSPI", "grade": "A",
        "signal_date": "2026-02-10", "status": "PENDING", "entry_price": 72000,
        "score": {"news": 2, "total": 9}, "quantity": 10, "position_size": 720000,
    }  # fmt: skip
    for name, grade in (("jongga_v2_results_20260210.json", "A"), ("jongga_v2_latest.json", "S")):
        body = {"date": "2026-02-10", "signals": [{**item, "grade": grade}], "by_grade": {}}
        (folder / name).write_text(json.dumps(body, ensure_ascii=False, indent=2))
    analysis = {"ticker": "005930", "gemini_recommendation": {"action": "BUY", "confidence": 70}}
    (folder / "history").mkdir()
    for name, confidence in (
        ("history/kr_ai_analysis_20260210.json", 70),
        ("kr_ai_analysis.json", 75),
    ):
        rec = {"action": "BUY", "confidence": confidence}
        body = {"signal_date": "2026-02-10", "generated_at": "2026-02-10T16:40:00",
                "signals": [{**analysis, "gemini_recommendation": rec}]}  # fmt: skip
        (folder / name).write_text(json.dumps(body, ensure_ascii=False, indent=2))


def test_other_generations_and_latest_files_round_trip(
    db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    _write_other_generations(folder)
    args = ["import", "legacy", str(folder), "--json", "--database-url", db_url,
            "--rejects", str(tmp_path / "r.csv")]  # fmt: skip
    code, body, output = invoke(args)
    assert code == 0, output
    assert all(f["rejected"] == 0 for f in body["files"].values())
    assert all(v["ok"] for v in body["verification"].values())
    verification = body["verification"]
    assert verification["jongga_v2_results_20260210.json"]["superseded_by_later_file"] == 1
    assert verification["history/kr_ai_analysis_20260210.json"]["superseded_by_later_file"] == 1
    code, again, _ = invoke(args)
    assert {(f["inserted"], f["updated"]) for f in again["files"].values()} == {(0, 0)}
    assert count(db_engine, "SELECT count(*) FROM daily_prices WHERE halted") == 1
    assert count(db_engine, "SELECT trading_value FROM daily_prices WHERE date = '2026-02-11'") == 0
    assert count(db_engine, "SELECT inst_net_5d FROM investor_flow_summaries") == 1
    assert count(db_engine, "SELECT count(*) FROM signals WHERE flow_unit = 'krw'") == 1
    assert count(db_engine, "SELECT count(*) FROM signals WHERE grade = 'S'") == 1  # latest won
    assert count(db_engine, "SELECT confidence::int FROM ai_analyses") == 75  # latest won
    assert count(db_engine, "SELECT count(*) FROM scan_runs") == 2


def test_bench_ingest_prints_its_figures_on_a_small_folder(
    tmp_path: Path, admin_url: str, shared_data: Path
) -> None:
    """The bench end to end on 3 real pykrx files and the Gen1 rows built from them, in its own
    scratch database: both loads verified, the Gen1 copy changes only what it adds."""
    krx = shared_data / "krx-daily"
    prices = shared_data / "legacy" / "daily_prices.csv"
    if not krx.is_dir() or not prices.is_file():
        pytest.skip("the real data folders are absent")
    small = tmp_path / "krx"
    small.mkdir()
    tickers = ("005930", "000660", "000020")
    for ticker in tickers:
        (small / f"{ticker}.csv").symlink_to(krx / f"{ticker}.csv")
    lines = prices.read_text(encoding="utf-8-sig").splitlines()
    gen1 = tmp_path / "daily_prices.csv"
    gen1.write_text("\n".join([lines[0], *(x for x in lines[1:] if x.startswith(tickers))]))
    code, body, output = invoke(
        ["bench", "ingest", "--json", "--admin-url", admin_url, "--krx-dir", str(small),
         "--legacy-prices", str(gen1), "--baseline-rows", "50", "--commit-rows", "10",
         "--batched-rows", "50", "--rounds", "2"]
    )  # fmt: skip
    assert code == 0, output
    assert body["verified"] is True
    assert (
        body["rows"]
        == body["imports"]["krx_csv"]["rows"] + body["imports"]["legacy_daily_prices"]["rows"]
    )
    first, copy = body["imports"]["krx_csv"], body["imports"]["legacy_daily_prices"]
    assert first["prices_inserted"] == first["rows"] > 1000
    assert copy["prices_inserted"] == 0
    assert copy["prices_updated"] + copy["prices_unchanged"] == copy["rows"]
    assert copy["prices_updated"] < copy["rows"] // 100  # rounded rates are no change
    assert body["baseline_rows"] == 50 and body["speedup"] > 0
    assert body["rounds"] == len(body["per_round"]) == 2  # the medians of two rounds
    assert "round 2/2" in output
    assert set(body["targets"]) == {"rows_per_s", "speedup"}


def _pykrx_folder(root: Path, tickers: list[str], close: int = 5000) -> Path:
    folder = root / "krx"
    folder.mkdir()
    for ticker in tickers:
        (folder / f"{ticker}.csv").write_text(
            "날짜,시가,고가,저가,종가,거래량,등락률\n"
            f"2024-01-02,{close},{close},{close},{close},10,0.0\n"
            f"2024-01-03,{close},{close},{close},{close},20,0.0\n",
            encoding="utf-8-sig",
        )
    return folder


def test_krx_folder_streams_in_parts_with_progress_and_a_failed_write_keeps_nothing(
    tmp_path: Path, db_engine: Engine
) -> None:
    """Parts of 100 files: progress per part, then the verification. A write the database
    refuses mid-stream rolls the whole folder back, and the report still covers every file."""
    from krstock.ingest.importer import import_krx_csv

    folder = _pykrx_folder(tmp_path, [f"{i:06d}" for i in range(1, 251)])
    steps: list[str] = []
    totals: list[int] = []
    summary = import_krx_csv(
        folder, db_engine, rejects_path=tmp_path / "r.csv", progress=steps.append,
        on_start=totals.append,
    )  # fmt: skip
    assert totals == [4] and steps == [
        "read 100 of 250 files", "read 200 of 250 files", "read 250 of 250 files", "verified"
    ]  # fmt: skip
    result = summary.files["krx"]
    assert (result.read, result.keys, result.found, result.inserted) == (500, 500, 500, 750)
    assert count(db_engine, "SELECT count(*) FROM daily_prices") == 500

    with db_engine.begin() as conn:
        conn.execute(text("TRUNCATE daily_prices, stocks CASCADE"))
        conn.execute(text("ALTER TABLE daily_prices ADD CONSTRAINT t_small CHECK (close < 1000)"))
    refused = import_krx_csv(folder, db_engine, rejects_path=tmp_path / "r.csv")
    assert "database write failed, folder rolled back" in refused.failed["krx"]
    assert refused.files["krx"].read == 500 and refused.files["krx"].found == 0
    assert count(db_engine, "SELECT count(*) FROM daily_prices") == 0
    assert count(db_engine, "SELECT count(*) FROM stocks") == 0


def test_krx_folder_without_a_readable_file_is_a_setup_error(
    tmp_path: Path, db_engine: Engine
) -> None:
    from krstock.ingest.importer import ImportSetupError, import_krx_csv

    folder = tmp_path / "krx"
    folder.mkdir()
    (folder / "005930.csv").write_text("x,y\n1,2\n")
    with pytest.raises(ImportSetupError, match="no readable file"):
        import_krx_csv(folder, db_engine, rejects_path=tmp_path / "r.csv")
    assert count(db_engine, "SELECT count(*) FROM daily_prices") == 0
