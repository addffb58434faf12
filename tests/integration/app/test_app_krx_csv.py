"""End to end on real prices: the pykrx CSV folder imported, then every scan on its last full day.

The folder holds prices only (no flows, index series or news), with real halts (zero OHLV, close
carried), short histories (new listings) and an intraday last row (2025-06-17). Every run must
finish, store its run as SUCCEEDED, and give strict JSON (no NaN/inf).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from krstock.app.runs import run_backtest, run_market_gate, run_scan, run_track
from krstock.app.scans import SCAN_KINDS
from krstock.db.models import ScanRun
from krstock.db.reader import load_market_window
from krstock.domain.market import MarketWindow

# tests/conftest.py::SHARED_DATA (its ``shared_data`` fixture is function-scoped; the import
# here is loaded once per module).
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
LAST_FULL_DAY = date(2025, 6, 16)  # 2025-06-17 may be an intraday snapshot
NEXT_DAY = date(2025, 6, 17)


@pytest.fixture(scope="module")
def krx(
    admin_url: str, _clone_pool: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    from krstock.db.session import make_engine
    from krstock.ingest.importer import import_krx_csv

    if not (SHARED_DATA / "krx-daily").is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (real data lives beside the project)")
    name = _clone_pool.take()
    engine = make_engine(f"{admin_url.rpartition('/')[0]}/{name}", pool_size=2, max_overflow=2)
    try:
        rejects = tmp_path_factory.mktemp("krx") / "rejects.csv"
        summary = import_krx_csv(SHARED_DATA / "krx-daily", engine, rejects_path=rejects)
        assert summary.files["krx-daily"].found > 100_000
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        yield engine
    finally:
        engine.dispose()
        _clone_pool.release(name)


@pytest.fixture(scope="module")
def window(krx: Engine) -> MarketWindow:
    with krx.connect() as conn:
        return load_market_window(conn, LAST_FULL_DAY, 260)


def _strict_json(value: Any) -> Any:
    return json.loads(json.dumps(value, allow_nan=False, default=str))


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)


def _assert_succeeded(engine: Engine, run_id: str) -> None:
    with Session(engine) as session:
        run = session.scalars(select(ScanRun).where(ScanRun.id == run_id)).one()
        assert run.status == "SUCCEEDED", run.error


def test_the_real_folder_has_halts_and_short_histories_on_the_day(window: MarketWindow) -> None:
    rows_per_ticker = np.isfinite(window.close).sum(axis=1)
    assert (rows_per_ticker < 200).sum() >= 3  # listings too young for a 200-day average
    assert window.halted.any()  # real halts inside the scanned window


@pytest.mark.parametrize("kind", SCAN_KINDS)
def test_every_scan_runs_on_the_last_full_day(krx: Engine, window: MarketWindow, kind: str) -> None:
    result = run_scan(krx, kind=kind, day=LAST_FULL_DAY)

    body = _strict_json(result)
    assert body["scanned"] == 300
    assert all(np.isfinite(x) for x in _numbers(body))
    _assert_succeeded(krx, result["run_id"])
    print(kind, len(body["signals"]), "signals")
    halted_today = set(window.tickers[window.halted[:, -1]].tolist())
    young = set(window.tickers[np.isfinite(window.close).sum(axis=1) < 200].tolist())
    found = {s["ticker"] for s in body["signals"]}
    assert not found & halted_today  # a halted day is never an entry
    if kind in {"vcp", "trend-template"}:
        assert not found & young  # the Stage-2 template needs a 200-day average
    if kind == "vcp-legacy":
        assert found == set()  # the folder has no investor flows: nothing passes the flow rule
    # "No inputs" is not "no setups": the missing flows are named, with dates and a command.
    codes = {r["code"] for r in body["reasons"]}
    if kind != "trend-template":  # the only scan that reads no flows
        flows = next(r for r in body["reasons"] if r["code"] == "no_investor_flows")
        assert flows["end"] == LAST_FULL_DAY.isoformat() and flows["start"] < flows["end"]
        assert flows["fix"].startswith("krstock collect --source krx --start ")
    else:
        assert "no_investor_flows" not in codes
    if kind == "closing-bet" and body["candidates_scored"]:
        assert "no_news" in codes
    with Session(krx) as session:  # the run's counts keep them (scan_runs.counts)
        stored = session.scalars(select(ScanRun).where(ScanRun.id == result["run_id"])).one()
        assert stored.counts["reasons"] == body["reasons"]
    if kind == "closing-bet":
        # No news in the folder: the mandatory news point fails and the monolith drops C grades.
        assert body["signals"] == [] and body["candidates_scored"] >= 0


def test_market_gate_without_index_series_reports_no_data(krx: Engine) -> None:
    result = run_market_gate(krx, day=LAST_FULL_DAY)
    body = _strict_json(result)
    assert body["gate"]["status"] == "YELLOW" and body["gate"]["score"] == 50
    # Why: no index or FX series at all, each named with the source that has it.
    missing = {r["message"].split(":")[0]: r for r in body["reasons"]}
    assert set(missing) == {"KOSPI", "069500", "KOSDAQ", "USDKRW"}
    assert missing["KOSPI"]["fix"].startswith("krstock collect --source krx ")
    assert missing["USDKRW"]["fix"].startswith("krstock collect --source yahoo ")
    _assert_succeeded(krx, result["run_id"])


def test_track_and_backtest_on_real_prices(krx: Engine) -> None:
    run_scan(krx, kind="vcp", day=LAST_FULL_DAY)
    tracked = _strict_json(run_track(krx, day=NEXT_DAY))
    assert tracked["closed"] == 0  # VCP exits need 5 calendar days or −7 %
    result = run_backtest(krx, strategy="closing-bet", start=date(2025, 5, 2), end=LAST_FULL_DAY)
    body = _strict_json(result)
    assert body["summary"]["trades"] == len([t for t in body["trades"] if t["exit_date"]])
    assert all(np.isfinite(x) for x in _numbers(body))
    _assert_succeeded(krx, result["run_id"])
