"""Golden contract: real monolith files imported with `import legacy`, served back unchanged.

The jongga results of the original engine and the real signals_log are imported into a migrated
database; the monolith routes must return the same items (every key, every value) and the same
top-level figures as the files.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from helpers.api_apps import build_app
from sqlalchemy.engine import make_url

from krstock.db.session import make_engine

pytestmark = pytest.mark.integration

# The same place as tests/conftest.py's SHARED_DATA (tests/ is not an importable package).
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
FILES = (
    "korean_stocks_list.csv",
    "signals_log.csv",
    "jongga_v2_results_20260115.json",
    "jongga_v2_results_20260116.json",
    "jongga_v2_results_20260205.json",
)


@pytest.fixture(scope="module")
def client(
    admin_url: str, migrated_template: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    legacy = SHARED_DATA / "legacy"
    if not legacy.is_dir():
        pytest.skip(f"{legacy} is absent (real data lives beside the project)")
    from krstock.ingest.importer import import_legacy

    folder = tmp_path_factory.mktemp("legacy") / "data"
    folder.mkdir()
    for name in FILES:
        shutil.copy(legacy / name, folder / name)
    name = f"krstock_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=1, max_overflow=1)
    import_legacy(folder.parent, engine, rejects_path=folder.parent / "rejects.csv")
    engine.dispose()
    built = build_app("gateway", url, redis_url)
    try:
        with TestClient(built.app) as test_client:
            test_client.legacy_dir = legacy  # type: ignore[attr-defined]
            yield test_client
    finally:
        built.state.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _file(client: TestClient, name: str) -> dict[str, Any]:
    path: Path = client.legacy_dir / name  # type: ignore[attr-defined]
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("day", ["20260115", "20260116", "20260205"])
def test_jongga_history_returns_the_original_engine_output(client: TestClient, day: str) -> None:
    original = _file(client, f"jongga_v2_results_{day}.json")
    dashed = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    served = client.get(f"/api/kr/jongga-v2/history/{dashed}").json()
    assert served == client.get(f"/api/kr/jongga-v2/history/{day}").json()
    for key in ("date", "total_candidates", "filtered_count", "by_grade", "by_market"):
        assert served[key] == original[key], key
    assert served["processing_time_ms"] == pytest.approx(original["processing_time_ms"])
    by_code = {s["stock_code"]: s for s in served["signals"]}
    assert set(by_code) == {s["stock_code"] for s in original["signals"]}
    for item in original["signals"]:
        mine = by_code[item["stock_code"]]
        for key, value in item.items():
            assert mine[key] == value, (item["stock_code"], key)
    grades = [s["grade"] for s in served["signals"]]
    assert grades == sorted(grades, key="SABC".index)


def test_dates_and_latest_from_the_imported_files(client: TestClient) -> None:
    assert client.get("/api/kr/jongga-v2/dates").json() == [
        "2026-02-05",
        "2026-01-16",
        "2026-01-15",
    ]
    latest = client.get("/api/kr/jongga-v2/latest").json()
    assert latest["date"] == "2026-02-05" and latest["filtered_count"] == 43


def test_vcp_signals_from_the_real_signals_log(client: TestClient) -> None:
    body = client.get("/api/kr/signals").json()
    # 168 OPEN rows in the real ledger, one per ticker (p10's de-duplication), top 20 returned.
    assert 0 < body["count"] <= 168 and len(body["signals"]) == 20
    assert all(s["status"] == "OPEN" and len(s["ticker"]) == 6 for s in body["signals"])
    assert all(s["name"] for s in body["signals"])  # joined from korean_stocks_list
    perf = client.get("/api/kr/performance").json()
    assert perf["total_signals"] == 981 and perf["closed_signals"] == 813
    summary = client.get("/api/kr/backtest-summary").json()["vcp"]
    assert summary["status"] == "OK" and summary["count"] == 813
