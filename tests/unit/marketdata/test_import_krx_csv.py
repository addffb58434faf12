"""The krx-csv source: a folder of pykrx files → PRICE_COLUMNS frames, rejects, SourceErrors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from krstock.marketdata.base import PRICE_COLUMNS, STOCK_COLUMNS, MarketDataSource, SourceError
from krstock.marketdata.krx_csv import KrxCsvSource, finish_prices, read_folder

HEADER = "날짜,시가,고가,저가,종가,거래량,등락률"


def write(
    folder: Path, name: str, lines: list[str], *, bom: bool = True, enc: str = "utf-8"
) -> None:
    data = "\n".join(lines).encode(enc)
    folder.joinpath(name).write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(
        tmp_path,
        "005930.csv",
        [
            HEADER,
            "2024-01-03,100,110,90,105,1000,5.0",
            "2024-01-02,95,101,94,100,900,",  # out of order; first row: no previous close
            "2024-01-04,0,0,0,105,0,0.0",  # halted: close carried over
            "2024-01-05,106,112,104,110,2000,",  # empty change %: computed
        ],
    )
    write(
        tmp_path,
        "005935.csv",
        ["날짜,시가,고가,저가,종가,거래량,거래대금,등락률", "20240102,50,55,49,52,10,530,1.0"],
        bom=False,
    )
    return tmp_path


def test_prices_follow_the_contract_and_the_documented_rules(folder: Path) -> None:
    data = read_folder(folder)
    prices = data.prices
    assert list(prices.columns) == PRICE_COLUMNS
    assert len(prices) == 5 and data.read == 5 and data.rejects == []
    samsung = prices[prices["ticker"] == "005930"].reset_index(drop=True)
    assert [str(d)[:10] for d in samsung["date"]] == [
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
    ]
    assert samsung["change"].tolist()[1:] == [5, 0, 5]
    assert pd.isna(samsung.loc[0, "change"])
    assert pd.isna(samsung.loc[0, "change_pct"])  # empty and no previous close
    assert samsung.loc[1, "change_pct"] == 5.0  # from the file
    assert samsung.loc[3, "change_pct"] == pytest.approx(5 / 105 * 100)  # computed
    assert samsung["halted"].tolist() == [False, False, True, False]
    halted = samsung.loc[2]
    assert (halted["open"], halted["high"], halted["low"], halted["volume"]) == (0, 0, 0, 0)
    assert halted["close"] == 105
    assert samsung["trading_value"].tolist() == [90_000, 105_000, 0, 220_000]  # close × volume
    preferred = prices[prices["ticker"] == "005935"].iloc[0]
    assert preferred["trading_value"] == 530  # the file's 거래대금 wins over the estimate
    assert set(prices["source"]) == {"krx-csv"}


def test_stocks_are_inferred_from_file_names(folder: Path) -> None:
    stocks = KrxCsvSource(folder).stocks()
    assert list(stocks.columns) == STOCK_COLUMNS
    assert stocks["ticker"].tolist() == ["005930", "005935"]
    assert stocks["market"].tolist() == ["UNKNOWN", "UNKNOWN"]
    assert stocks["is_preferred"].tolist() == [False, True]


def test_bad_rows_are_rejected_with_file_and_line_and_the_rest_loads(tmp_path: Path) -> None:
    write(
        tmp_path,
        "000660.csv",
        [
            HEADER,
            "2024-01-02,100,110,90,105,1000,1.0",
            "2024-01-03,abc,110,90,105,1000,1.0",
            "2024-01-04,100,110,90,105,-5,1.0",
            "2026-02-30,100,110,90,105,1000,1.0",
            "2024-01-05,100,110",
            "2024-01-02,101,111,91,106,1001,1.5",  # duplicate date: last wins
        ],
    )
    data = read_folder(tmp_path)
    reasons = sorted((r.line, r.reason) for r in data.rejects)
    assert reasons == [
        (3, "non-numeric 시가: 'abc'"),
        (4, "negative 거래량: -5"),
        (5, "impossible date in 날짜: '2026-02-30'"),
        (6, "truncated line: 3 of 7 fields"),
    ]
    assert {r.file for r in data.rejects} == {"000660.csv"}
    assert len(data.prices) == 1 and data.prices.loc[0, "close"] == 106
    report = data.files["000660.csv"]
    assert (report.read, report.rejected, report.duplicates) == (6, 4, 1)
    assert data.duplicates == 1


def test_unreadable_files_fail_alone(tmp_path: Path) -> None:
    write(tmp_path, "005930.csv", [HEADER, "2024-01-02,1,1,1,1,1,0"])
    write(tmp_path, "notes.csv", [HEADER])
    write(tmp_path, "000020.csv", [])
    write(tmp_path, "000030.csv", ["date;open;high"])
    write(tmp_path, "000040.csv", [HEADER])  # header only: 0 rows, not an error
    (tmp_path / "readme.txt").write_text("not a csv")
    data = read_folder(tmp_path)
    assert set(data.failures) == {"notes.csv", "000020.csv", "000030.csv"}
    assert "not a KRX code" in data.failures["notes.csv"]
    assert "empty file" in data.failures["000020.csv"]
    assert "';'-delimited" in data.failures["000030.csv"]
    assert data.files["000040.csv"].read == 0
    assert len(data.prices) == 1


def test_cp949_and_quoted_files(tmp_path: Path) -> None:
    write(tmp_path, "000100.csv", [HEADER, "2024-01-02,1,2,1,2,3,0.5"], bom=False, enc="cp949")
    write(tmp_path, "000110.csv", [HEADER, '"2024-01-02","7","8","6","7","9",""'])
    prices = read_folder(tmp_path).prices
    assert prices["ticker"].tolist() == ["000100", "000110"]
    assert prices["close"].tolist() == [2, 7]


def test_folder_errors_raise_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a folder"):
        read_folder(tmp_path / "absent")
    with pytest.raises(SourceError, match=r"no \*\.csv files"):
        read_folder(tmp_path)
    write(tmp_path, "000020.csv", ["x,y"])
    with pytest.raises(SourceError, match="no readable file"):
        read_folder(tmp_path)


def test_source_protocol_ranges_and_unserved_methods(folder: Path) -> None:
    source = KrxCsvSource(folder)
    assert isinstance(source, MarketDataSource)
    window = source.daily_prices(date(2024, 1, 3), date(2024, 1, 4))
    assert window["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-03", "2024-01-04"]
    only = source.daily_prices(date(2024, 1, 1), date(2024, 12, 31), tickers=["005935"])
    assert only["ticker"].tolist() == ["005935"]
    assert source.load() is source.load()  # read once
    with pytest.raises(SourceError, match=r"no rows for all tickers in \[2025-01-01"):
        source.daily_prices(date(2025, 1, 1), date(2025, 1, 31))
    with pytest.raises(SourceError, match="no rows for 000000"):
        source.daily_prices(date(2024, 1, 1), date(2024, 1, 31), tickers=["000000"])
    for call in (
        lambda: source.investor_flows(date(2024, 1, 1), date(2024, 1, 2)),
        lambda: source.index_prices(date(2024, 1, 1), date(2024, 1, 2)),
        lambda: source.fx_rates(date(2024, 1, 1), date(2024, 1, 2)),
        lambda: source.news(date(2024, 1, 1), ["005930"]),
    ):
        with pytest.raises(SourceError, match="per-ticker OHLCV only"):
            call()


def test_finish_prices_keeps_given_change_and_guards_zero_previous_close() -> None:
    frame = pd.DataFrame(
        {
            "ticker": ["A", "A", "A"],
            "date": np.array(["2024-01-02", "2024-01-03", "2024-01-04"], dtype="datetime64[s]"),
            "open": [0.0, 1.0, 1.0],
            "high": [0.0, 1.0, 1.0],
            "low": [0.0, 1.0, 1.0],
            "close": [0.0, 10.0, 12.0],
            "volume": [0.0, 5.0, 5.0],
            "change": [np.nan, np.nan, 7.0],
        }
    )
    prices, duplicates = finish_prices(frame, "test")
    assert duplicates == 0
    assert prices["change"].tolist()[1:] == [10, 7]  # computed, then the given value
    assert np.isnan(prices.loc[1, "change_pct"])  # previous close 0: no percentage
    assert prices["halted"].tolist() == [True, False, False]


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4, 5], [5, 3, 0, 4, 1, 2], [2, 0, 5, 1, 4, 3]])
def test_finish_prices_orders_rows_and_keeps_the_last_of_each_key(order: list[int]) -> None:
    """Sorted or not, a key given twice keeps its later row (in input order); change is taken
    from the previous row of the same ticker only, never across tickers."""
    days = ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-03", "2024-01-03", "2024-01-02"]
    rows = pd.DataFrame(
        {
            "ticker": ["B", "A", "A", "B", "A", "B"],
            "date": np.array(days, dtype="datetime64[s]"),
            "open": 1.0,
            "high": 1.0,
            "low": 1.0,
            "volume": 1.0,
            "close": [100.0, 10.0, 11.0, 90.0, 12.0, 101.0],
        }
    )
    shuffled = rows.iloc[order].reset_index(drop=True)
    prices, duplicates = finish_prices(shuffled, "test")
    assert duplicates == 2
    assert list(zip(prices["ticker"], prices["date"].astype(str), strict=True)) == [
        ("A", "2024-01-02"), ("A", "2024-01-03"), ("B", "2024-01-02"), ("B", "2024-01-03"),
    ]  # fmt: skip
    # The later of rows 2 and 4 (A, 01-03) and of rows 0 and 5 (B, 01-02) in input order wins.
    position = {row: order.index(row) for row in range(6)}
    a_close = 11 if position[2] > position[4] else 12
    b_close = 100 if position[0] > position[5] else 101
    assert prices["close"].tolist() == [10, a_close, b_close, 90]
    assert prices["change"].isna().tolist() == [True, False, True, False]
    assert prices["change"].tolist()[1] == a_close - 10
    assert prices["change"].tolist()[3] == 90 - b_close


def test_finish_prices_of_no_rows_is_empty() -> None:
    empty = pd.DataFrame(
        {"ticker": pd.Series([], dtype=object), "date": pd.Series([], dtype="datetime64[s]")}
        | {c: pd.Series([], dtype=np.float64) for c in ("open", "high", "low", "close", "volume")}
    )
    prices, duplicates = finish_prices(empty, "test")
    assert prices.empty and duplicates == 0


def test_chunks_keep_a_tickers_files_together_and_merge_to_the_whole(folder: Path) -> None:
    """folder_chunks: parts of about N files, never splitting one ticker's files (here
    5930.csv and 005930.csv); the merge of the parts read equals read_folder's result."""
    from krstock.marketdata.krx_csv import KrxFolder, folder_chunks, read_files

    write(folder, "5930.csv", [HEADER, "2024-01-08,1,1,1,1,1,0.0"])  # also ticker 005930
    write(folder, "000020.csv", [HEADER, "2024-01-02,7,7,7,7,7,0.0", "truncated"])
    write(folder, "bad-name.csv", [HEADER])
    parts = [read_files(chunk, folder.name) for chunk in folder_chunks(folder, files_per_chunk=1)]
    assert [sorted(p.files) for p in parts] == [
        ["bad-name.csv"], ["000020.csv"], ["005930.csv", "5930.csv"], ["005935.csv"]
    ]  # fmt: skip
    merged, whole = KrxFolder.merge(parts), read_folder(folder)
    pd.testing.assert_frame_equal(merged.prices, whole.prices)
    pd.testing.assert_frame_equal(merged.stocks, whole.stocks)
    assert merged.rejects == whole.rejects and merged.files == whole.files
    assert merged.failures == {"bad-name.csv": whole.failures["bad-name.csv"]}
    assert KrxFolder.merge([]).prices.empty and list(KrxFolder.merge([]).prices) == PRICE_COLUMNS
    with pytest.raises(SourceError, match="not a folder"):
        folder_chunks(folder / "absent")
