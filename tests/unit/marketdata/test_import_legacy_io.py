"""Reading helpers: encodings, tokenizing with line numbers, vectorized row checks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from krstock.marketdata.legacy_io import (
    FileFormatError,
    RowChecks,
    concat_tables,
    decimals,
    decode,
    dedupe_last,
    is_preferred_code,
    normalize_ticker,
    parse_date,
    parse_dates,
    read_text,
    stock_frame,
    tokenize_csv,
)

LAYOUTS = {"abc": ["a", "b", "c"], "xy": ["x", "y"]}


def test_decode_utf8_with_and_without_bom_and_cp949() -> None:
    text = "ticker,name\n005930,삼성전자\n"
    assert decode(b"\xef\xbb\xbf" + text.encode(), "f") == text
    assert decode(text.encode(), "f") == text
    assert decode(text.encode("cp949"), "f") == text


def test_decode_rejects_bytes_that_are_neither_utf8_nor_cp949() -> None:
    with pytest.raises(FileFormatError, match="neither UTF-8 nor cp949"):
        decode(b"a,b\n\xff\xff\xff\n", "bad.csv")


def test_read_text_of_a_missing_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="cannot read"):
        read_text(tmp_path / "absent.csv", "absent.csv")


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_empty_file_is_fatal(text: str) -> None:
    with pytest.raises(FileFormatError, match="empty file"):
        tokenize_csv(text, "e.csv", LAYOUTS)


def test_unknown_header_is_fatal_and_names_the_expected_layouts() -> None:
    with pytest.raises(FileFormatError, match=r"unknown header 'a,b,z'.*a,b,c \| x,y"):
        tokenize_csv("a,b,z\n1,2,3\n", "u.csv", LAYOUTS)


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_wrong_delimiter_is_fatal_with_a_hint(delimiter: str) -> None:
    text = delimiter.join(["a", "b", "c"]) + "\n" + delimiter.join(["1", "2", "3"]) + "\n"
    with pytest.raises(FileFormatError, match=re.escape(f"looks {delimiter!r}-delimited")):
        tokenize_csv(text, "d.csv", LAYOUTS)


def test_header_only_gives_zero_rows() -> None:
    layout, table = tokenize_csv("x,y\n", "h.csv", LAYOUTS)
    assert layout == "xy"
    assert len(table) == 0 and table.rows_read == 0 and table.rejects == []
    assert list(table.columns) == ["x", "y"]


def test_header_matches_in_any_order_and_case_with_bom_char() -> None:
    layout, table = tokenize_csv("\ufeffC,A,b\n3,1,2\n", "o.csv", LAYOUTS)
    assert layout == "abc"
    assert table.columns["a"].tolist() == ["1"]
    assert table.columns["c"].tolist() == ["3"]


def test_truncated_and_overlong_lines_are_rejected_with_their_line_numbers() -> None:
    text = "a,b,c\n1,2,3\n4,5\n\n6,7,8,9\n10,11,12"
    _, table = tokenize_csv(text, "t.csv", LAYOUTS)
    assert table.columns["a"].tolist() == ["1", "10"]
    assert table.lines.tolist() == [2, 6]
    assert table.rows_read == 4  # the blank line is not a row
    reasons = [(r.line, r.reason, r.raw) for r in table.rejects]
    assert reasons == [
        (3, "truncated line: 2 of 3 fields", "4,5"),
        (5, "wrong field count: 4 fields, expected 3", "6,7,8,9"),
    ]


def test_quoted_fields_take_the_csv_path_with_line_numbers() -> None:
    text = 'a,b,c\n"1,5",x,y\n"q",2\n\n"z","w","v"\n'
    _, table = tokenize_csv(text, "q.csv", LAYOUTS)
    assert table.columns["a"].tolist() == ["1,5", "z"]
    assert table.lines.tolist() == [2, 5]
    assert table.raw.tolist() == ['"1,5",x,y', '"z","w","v"']
    assert [(r.line, r.reason) for r in table.rejects] == [(3, "truncated line: 2 of 3 fields")]


def test_quoted_header_only_file() -> None:
    _, table = tokenize_csv('"x","y"\n', "q.csv", LAYOUTS)
    assert len(table) == 0


def test_padded_fields_are_stripped() -> None:
    _, table = tokenize_csv("a,b,c\n 1 ,2,3\n", "p.csv", LAYOUTS)
    assert table.columns["a"].tolist() == ["1"]


def _table(text: str):  # type: ignore[no-untyped-def]
    return tokenize_csv(text, "r.csv", {"t": ["ticker", "n", "d", "s"]})[1]


def test_number_checks_non_numeric_missing_negative_and_fractional() -> None:
    table = _table("ticker,n,d,s\nA,1,,\nB,x,,\nC,,,\nD,-5,,\nE,2.5,,\n")
    checks = RowChecks(table)
    values = checks.number("n", nonneg=True, whole=True)
    assert values[0] == 1.0 and np.isnan(values[1]) and np.isnan(values[2])
    assert checks.reason.tolist() == [
        None,
        "non-numeric n: 'x'",
        "missing n",
        "negative n: -5",
        "n is not a whole number: 2.5",
    ]
    assert [r.line for r in checks.rejects()] == [3, 4, 5, 6]


def test_optional_numbers_allow_empty_and_the_first_reason_wins() -> None:
    table = _table("ticker,n,d,s\nA,,x,\n")
    checks = RowChecks(table)
    assert np.isnan(checks.number("n", required=False)[0])
    checks.number("d")
    checks.fail(np.array([True]), "later reason")
    assert checks.reason.tolist() == ["non-numeric d: 'x'"]


def test_dates_in_both_forms_impossible_and_malformed() -> None:
    table = _table(
        "ticker,n,d,s\nA,,2026-02-10,\nA,,20260211,\nA,,2026-02-30,\nA,,02/10/2026,\nA,,,\n"
        "A,,2026-02-12 16:02:11,\n"
    )
    checks = RowChecks(table)
    days = checks.date("d")
    assert str(days[0]) == "2026-02-10" and str(days[1]) == "2026-02-11"
    assert str(days[5]) == "2026-02-12"
    assert checks.reason.tolist() == [
        None,
        None,
        "impossible date in d: '2026-02-30'",
        "bad date in d: '02/10/2026' (expected YYYY-MM-DD or YYYYMMDD)",
        "missing d",
        None,
    ]


def test_optional_date_may_be_empty() -> None:
    table = _table("ticker,n,d,s\nA,,,\n")
    checks = RowChecks(table)
    assert np.isnat(checks.date("d", required=False)[0])
    assert checks.ok.all()


def test_all_valid_dash_dates_take_the_fast_path_and_a_bad_one_falls_back() -> None:
    good = np.array(["2024-01-02", "2024-01-03"], dtype=object)
    values, bad = parse_dates(good)
    assert not bad.any() and values.dtype == np.dtype("datetime64[D]")
    values, bad = parse_dates(np.array(["2024-01-02", "2024-02-30"], dtype=object))
    assert bad.tolist() == [False, True]


def test_parse_date_single_values() -> None:
    assert str(parse_date("20240102")) == "2024-01-02"
    assert parse_date("2024-13-01") is None
    assert parse_date(None) is None


def test_tickers_written_as_integers_are_zero_padded() -> None:
    table = _table("ticker,n,d,s\n5930,,,\n5930.0,,,\n00088k,,,\nABCDEFG,,,\n,,,\n")
    checks = RowChecks(table)
    assert checks.ticker().tolist() == ["005930", "005930", "00088K", "", ""]
    assert checks.reason.tolist()[3:] == ["bad ticker: 'ABCDEFG'", "bad ticker: ''"]


def test_normalize_ticker_types() -> None:
    assert normalize_ticker(5930) == "005930"
    assert normalize_ticker(True) is None
    assert normalize_ticker(5930.0) is None
    assert normalize_ticker(" 000660 ") == "000660"


def test_choice_and_required_text() -> None:
    table = _table("ticker,n,d,s\nA,,,open\nB,,,WAIT\nC,,,\n")
    checks = RowChecks(table)
    assert checks.choice("s", ["OPEN", "CLOSED"]).tolist() == ["OPEN", "WAIT", ""]
    assert checks.reason.tolist() == [None, "unknown s 'WAIT'", "unknown s ''"]
    checks2 = RowChecks(table)
    checks2.text("s", required=True)
    assert checks2.reason.tolist() == [None, None, "missing s"]


def test_concat_tables_keeps_each_rows_file() -> None:
    one = tokenize_csv("x,y\n1,2\n", "one.csv", LAYOUTS)[1]
    two = tokenize_csv("x,y\n3,4\n5\n", "two.csv", LAYOUTS)[1]
    table = concat_tables([one, two], "both")
    assert table.columns["x"].tolist() == ["1", "3"]
    assert [table.file_of(i) for i in range(2)] == ["one.csv", "two.csv"]
    assert [r.file for r in table.rejects] == ["two.csv"]
    checks = RowChecks(table)
    checks.number("x", nonneg=True)
    checks.fail(np.array([False, True]), "boom")
    assert [(r.file, r.line, r.reason) for r in checks.rejects()] == [("two.csv", 2, "boom")]


def test_dedupe_last_keeps_the_last_row_of_each_key() -> None:
    import pandas as pd

    frame = pd.DataFrame({"k": [1, 2, 1], "v": ["a", "b", "c"]})
    out, dropped = dedupe_last(frame, ["k"])
    assert dropped == 1
    assert out.to_dict("records") == [{"k": 2, "v": "b"}, {"k": 1, "v": "c"}]
    same, none = dedupe_last(out, ["k"])
    assert none == 0 and len(same) == 2


@pytest.mark.parametrize(
    ("ticker", "preferred"),
    [
        ("005930", False),
        ("005935", True),
        ("000227", True),
        ("001529", True),
        ("00088K", True),
        ("37550L", True),
        ("0091C0", False),
        ("005931", False),
        ("12345", False),
    ],
)
def test_preferred_share_rule(ticker: str, preferred: bool) -> None:
    assert is_preferred_code(ticker) is preferred


def test_stock_frame_defaults_and_flags_by_name() -> None:
    frame = stock_frame(
        ["005930", "123450", "330590"],
        ["삼성전자", "하나금융스팩1호", "롯데리츠"],
        ["kospi", None, ""],
        listing_status="LISTED",
        source="legacy",
    )
    assert frame["market"].tolist() == ["KOSPI", "UNKNOWN", "UNKNOWN"]
    assert frame["is_spac"].tolist() == [False, True, False]
    assert frame["is_reit"].tolist() == [False, False, True]
    assert frame["sector"].tolist() == [None, None, None]
    bare = stock_frame(["005935"], listing_status="UNKNOWN", source="x")
    assert bare.loc[0, "name"] == "" and bool(bare.loc[0, "is_preferred"])


def test_clean_numeric_columns_parsed_in_c_still_report_negative_and_fractional_values() -> None:
    layouts = {"t": ["ticker", "n", "d", "s"]}
    _, table = tokenize_csv(
        "ticker,n,d,s\nA,-7,,\nB,2.5,,\nC,,,\n", "c.csv", layouts, numeric={"n"}
    )
    assert table.columns["n"].dtype == np.float64  # parsed by pandas' C tokenizer
    checks = RowChecks(table)
    checks.number("n", nonneg=True, whole=True)
    assert checks.reason.tolist() == ["negative n: -7", "n is not a whole number: 2.5", "missing n"]
    assert table.columns["s"].tolist() == ["", "", ""]
    _, text_path = tokenize_csv("ticker,n,d,s\nA,x,,\n", "c.csv", layouts, numeric={"n"})
    assert text_path.columns["n"].tolist() == ["x"]  # a non-number: every column stays text


def test_tickers_that_are_not_all_strings_take_the_per_value_path() -> None:
    from krstock.marketdata.legacy_io import normalize_tickers

    values, bad = normalize_tickers(np.array([5930, "000660", None], dtype=object))
    assert values.tolist() == ["005930", "000660", ""]
    assert bad.tolist() == [False, False, True]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([2.14, -0.47, 0.0, np.nan], 2),
        ([1.0, 300.0], 0),
        ([0.1, 0.25, 3.125], 3),
        ([2.142161635832522], None),  # full precision: no rounding to respect
        ([np.nan, np.nan], None),
        ([], None),
    ],
)
def test_decimals_is_the_rounding_a_column_shows(values: list[float], expected: int | None) -> None:
    assert decimals(pd.Series(values, dtype="float64")) == expected
