"""Collecting the synthetic market into the real (migrated) PostgreSQL: every table written,
values round-trip, and a second run of the same range inserts and updates nothing."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from krstock.ingest.collect import collect
from krstock.marketdata.base import SourceError
from krstock.marketdata.sample import SampleMarket

pytestmark = pytest.mark.integration

START, END = date(2026, 11, 2), date(2026, 11, 20)


@pytest.fixture(scope="module")
def market() -> SampleMarket:
    return SampleMarket(seed=5, n_tickers=150)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_sources_collect_sample_twice_is_idempotent(
    db_engine: Engine, market: SampleMarket
) -> None:
    seen: list[float] = []
    first = collect(
        db_engine, market, START, END, progress=lambda p, m: seen.append(p), chunk_days=6
    )
    tables = first["tables"]
    assert first["source"] == "sample" and first["trading_days"] == 15
    assert tables["stocks"]["inserted"] == 150
    prices = market.daily_prices(START, END)
    assert tables["daily_prices"]["inserted"] == len(prices) == _count(db_engine, "daily_prices")
    assert tables["investor_flows"]["inserted"] == 2 * len(prices)
    assert tables["index_prices"]["inserted"] == 10 * 15
    assert tables["fx_rates"]["inserted"] == 15
    assert tables["news_items"]["inserted"] == _count(db_engine, "news_items") > 0
    assert tables["news_items"]["rows"] == tables["news_items"]["inserted"]  # no re-sends
    assert seen == sorted(seen) and seen[-1] == 100.0 and len(seen) >= 5

    second = collect(db_engine, market, START, END)
    for name, entry in second["tables"].items():
        assert entry["inserted"] == 0 and entry["updated"] == 0, name
    assert second["tables"]["daily_prices"]["rows"] == len(prices)

    # Values round-trip: a halted-or-not row, a flow in both units, the NULL change of an IPO day.
    with db_engine.connect() as conn:
        stored = pd.read_sql(
            text("SELECT * FROM daily_prices WHERE date = :d ORDER BY ticker"),
            conn,
            params={"d": END},
        )
        flows = pd.read_sql(
            text("SELECT * FROM investor_flows WHERE date = :d ORDER BY ticker, investor"),
            conn,
            params={"d": END},
        )
    expected = market.daily_prices(END, END).sort_values("ticker").reset_index(drop=True)
    assert stored["close"].tolist() == expected["close"].tolist()
    assert stored["trading_value"].tolist() == expected["trading_value"].tolist()
    assert stored["halted"].tolist() == expected["halted"].tolist()
    assert stored["change"].astype(float).tolist() == expected["change"].astype(float).tolist()
    assert np.allclose(
        stored["change_pct"].astype(float), expected["change_pct"].astype(float), equal_nan=True
    )
    mine = (
        market.investor_flows(END, END).sort_values(["ticker", "investor"]).reset_index(drop=True)
    )
    assert flows["net_volume"].tolist() == mine["net_volume"].tolist()
    assert flows["net_value"].tolist() == mine["net_value"].tolist()


def test_sources_collect_subset_of_tickers_and_source_errors(
    db_engine: Engine, market: SampleMarket
) -> None:
    pick = [str(t) for t in market.tickers[:3]]
    summary = collect(db_engine, market, START, END, tickers=pick)
    assert summary["tables"]["stocks"]["inserted"] == 3
    assert summary["tables"]["daily_prices"]["rows"] == len(market.daily_prices(START, END, pick))
    with pytest.raises(SourceError):
        collect(db_engine, market, date(2020, 1, 1), date(2020, 1, 31))
    with pytest.raises(ValueError):
        collect(db_engine, market, END, START)


def test_sources_collect_command_json(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from krstock.cli import app
    from krstock.config import get_settings

    monkeypatch.setenv("KRSTOCK_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            ["collect", "--source", "sample", "--start", "2026-11-16", "--end", "2026-11-20",
             "--tickers", "069500,091160", "--json"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["source"] == "sample"
        assert summary["tables"]["daily_prices"]["inserted"] == 10
        bad = CliRunner().invoke(app, ["collect", "--source", "nope", "--start", "2026-11-16",
                                       "--end", "2026-11-20"])  # fmt: skip
        assert bad.exit_code != 0 and "valid names" in bad.output
        no_path = CliRunner().invoke(app, ["collect", "--source", "krx-csv", "--start",
                                           "2026-11-16", "--end", "2026-11-20"])  # fmt: skip
        assert no_path.exit_code != 0 and "--path" in no_path.output
    finally:
        get_settings.cache_clear()


def test_sources_collect_a_folder_source_skips_what_it_lacks(db_engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from krstock.marketdata.registry import get_source

    (tmp_path / "005930.csv").write_text(
        "\ufeff날짜,시가,고가,저가,종가,거래량,등락률\n"
        "2026-02-09,70500,71500,70200,71000,14100000,0.71\n"
        "2026-02-10,71000,72500,70800,72000,15234567,1.41\n",
        encoding="utf-8",
    )
    summary = collect(
        db_engine, get_source("krx-csv", folder=tmp_path), date(2026, 2, 9), date(2026, 2, 10)
    )
    tables = summary["tables"]
    assert tables["daily_prices"]["inserted"] == 2 and tables["stocks"]["inserted"] == 1
    for name in ("investor_flows", "index_prices", "fx_rates", "news_items"):
        assert tables[name]["skipped"] == "not provided by the krx-csv source"
