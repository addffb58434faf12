"""Legacy JSON parsers (closing-bet results, AI analyses) and the folder discovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from krstock.marketdata.legacy import (
    discover,
    item_lines,
    parse_ai_analysis,
    parse_jongga,
    parse_path,
)
from krstock.marketdata.legacy_io import FileFormatError


def jongga_item(code: Any = "056080", **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": None,
        "stock_code": code,
        "stock_name": "유진로봇",
        "market": "KOSDAQ",
        "signal_date": "2026-01-16",
        "grade": "B",
        "score": {"news": 2, "volume": 1, "chart": 2, "candle": 0, "supply": 2, "total": 7},
        "checklist": {"mandatory": {"news": True, "volume": True}},
        "entry_price": 26950,
        "stop_price": 26141,
        "target_price": 28297,
        "quantity": 154,
        "position_size": 4150300,
        "r_value": 250000.0,
        "trading_value": 179653308450,
        "change_pct": 25.35,
        "foreign_5d": 856763,
        "inst_5d": 368784,
        "status": "PENDING",
        "news_items": [],
    }
    item.update(changes)
    return item


def jongga_file(signals: list[Any], **top: Any) -> str:
    data: dict[str, Any] = {
        "date": "2026-01-16",
        "total_candidates": len(signals),
        "filtered_count": len(signals),
        "signals": signals,
        "by_grade": {"S": 0, "A": 0, "B": len(signals), "C": 0},
        "by_market": {"KOSDAQ": len(signals)},
        "processing_time_ms": 53018.5,
        "updated_at": "2026-01-16T10:19:27.860270",
    }
    data.update(top)
    return json.dumps(data, ensure_ascii=False, indent=2)


def test_closing_bet_file_gives_signals_and_one_scan_run() -> None:
    parsed = parse_jongga(
        jongga_file([jongga_item(), jongga_item(660, grade="A", stock_name="SK하이닉스")]),
        "jongga_v2_results_20260116.json",
    )
    assert parsed.rejects == [] and parsed.read == 2
    signals = parsed.table("signals").frame
    first = signals.iloc[0]
    assert first["strategy"] == "closing-bet" and first["status"] == "PENDING"
    assert first["grade"] == "B" and first["score"] == 7.0
    assert first["score_breakdown"]["news"] == 2
    assert (first["entry_price"], first["stop_price"], first["target_price"]) == (
        26950,
        26141,
        28297,
    )
    assert (first["quantity"], first["position_size"]) == (154, 4150300)
    assert first["flow_unit"] == "shares" and first["run_id"] == "legacy-jongga-20260116"
    assert first["payload"]["checklist"]["mandatory"]["news"] is True
    assert signals["ticker"].tolist() == ["056080", "000660"]
    run = parsed.table("scan_runs").frame.iloc[0]
    assert run["id"] == "legacy-jongga-20260116" and run["kind"] == "closing-bet"
    assert run["status"] == "SUCCEEDED"
    assert run["counts"] == {
        "total_candidates": 2,
        "filtered_count": 2,
        "by_grade": {"S": 0, "A": 0, "B": 2, "C": 0},
        "by_market": {"KOSDAQ": 2},
        "processing_time_ms": 53018.5,
    }
    assert str(run["finished_at"]) == "2026-01-16 10:19:27.860270+09:00"  # naive = KST
    assert parsed.stocks.set_index("ticker").loc["000660", "name"] == "SK하이닉스"
    assert parsed.table("stocks").keys == ["ticker"]


def test_bad_closing_bet_items_are_rejected_with_the_line_they_start_on() -> None:
    items = [
        jongga_item(),
        jongga_item(status="FILLED"),
        jongga_item(status=None),
        jongga_item(grade="Z"),
        jongga_item(entry_price=-1),
        jongga_item(quantity="many"),
        jongga_item(score={"news": 1}),
        jongga_item("ABCDEFGH"),
        jongga_item(signal_date="2026-02-30"),
        "not an object",
        jongga_item(quantity=True),
        jongga_item(stop_price=float("inf")),
    ]
    text = jongga_file(items)
    del items[9]
    parsed = parse_jongga(text, "jongga_v2_results_20260116.json")
    got = [r.reason for r in parsed.rejects]
    assert got == [
        "unknown status 'FILLED'",
        "missing status",
        "unknown grade 'Z'",
        "negative entry_price: -1",
        "non-numeric quantity: 'many'",
        "missing score.total",
        "bad stock_code: 'ABCDEFGH'",
        "impossible or bad signal_date: '2026-02-30'",
        "signal is not a JSON object",
        "non-numeric quantity: True",
        "non-numeric stop_price: inf",
    ]
    lines = text.splitlines()
    for reject in parsed.rejects:
        assert reject.line is not None
        assert lines[reject.line - 1].strip() in ("{", '"not an object",', "Infinity")
    assert len(parsed.table("signals").frame) == 1


def test_flat_score_missing_ticker_and_latest_file_date_from_content() -> None:
    flat = jongga_item(score=9, foreign_5d=None, inst_5d=None)
    missing = jongga_item()
    del missing["stock_code"]
    parsed = parse_jongga(jongga_file([flat, missing], date="2026-02-05"), "jongga_v2_latest.json")
    assert [r.reason for r in parsed.rejects] == ["missing stock_code / ticker"]
    signal = parsed.table("signals").frame.iloc[0]
    assert signal["score"] == 9.0 and signal["score_breakdown"] == {}
    assert signal["flow_unit"] is None
    assert parsed.table("scan_runs").frame.iloc[0]["id"] == "legacy-jongga-20260205"


def test_item_without_signal_date_uses_the_files_date_and_duplicates_last_win() -> None:
    a = jongga_item(grade="A")
    del a["signal_date"]
    b = jongga_item(grade="S", signal_date="2026-01-16")
    parsed = parse_jongga(jongga_file([a, b], date=None), "jongga_v2_results_20260116.json")
    assert parsed.duplicates == 1
    assert parsed.table("signals").frame["grade"].tolist() == ["S"]


def test_empty_signals_list_still_records_the_run() -> None:
    parsed = parse_jongga(jongga_file([]), "jongga_v2_results_20260116.json")
    assert parsed.read == 0 and parsed.table("signals").frame.empty
    assert len(parsed.table("scan_runs").frame) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("{not json", "not valid JSON"),
        ("[]", "unknown layout"),
        ('{"date": "2026-01-16"}', "unknown layout"),
    ],
)
def test_fatal_json_files(text: str, message: str) -> None:
    with pytest.raises(FileFormatError, match=message):
        parse_jongga(text, "jongga_v2_results_20260116.json")


def test_no_date_anywhere_is_fatal() -> None:
    with pytest.raises(FileFormatError, match="no valid 'date'"):
        parse_jongga(jongga_file([], date="soon"), "jongga_v2_latest.json")


def test_item_lines_without_a_signals_key_line() -> None:
    assert item_lines('{"signals":[1,2]}', 2) == [1, 1]
    assert item_lines('{"x": 1}', 2) == [None, None]
    assert item_lines('{\n  "signals": []\n}', 1) == [None]


def ai_item(ticker: Any = "123410", **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "ticker": ticker,
        "name": "코리아에프티",
        "market": "KOSDAQ",
        "score": 82.5,
        "fundamentals": {"per": "N/A"},
        "news": [{"title": "t", "summary": "s", "url": "u"}],
        "gpt_recommendation": {"action": "BUY", "confidence": 86, "reason": "gpt says"},
        "gemini_recommendation": {"action": "HOLD", "confidence": 60, "reason": "gemini says"},
    }
    item.update(changes)
    return item


def ai_file(signals: list[Any], **top: Any) -> str:
    data: dict[str, Any] = {
        "market_indices": {"kospi": {"value": 4309.63, "change_pct": 2.27}},
        "signals": signals,
        "generated_at": "2026-01-03T20:46:14.767956",
        "signal_date": "2025-12-29",
    }
    data.update(top)
    return json.dumps(data, ensure_ascii=False, indent=2)


def test_ai_analysis_rows_and_run() -> None:
    items = [
        ai_item(),
        ai_item("000660", gemini_recommendation={"action": "N/A"}, analysis_source="gemini+openai"),
        ai_item("000670", gpt_recommendation=None, gemini_recommendation=None),
    ]
    parsed = parse_ai_analysis(
        ai_file(items, api_status="ok"), "history/kr_ai_analysis_2025-12-29.json"
    )
    assert parsed.rejects == []
    rows = parsed.table("ai_analyses").frame.set_index("ticker")
    first = rows.loc["123410"]
    assert (first["action"], first["confidence"], first["reason"], first["model"]) == (
        "HOLD",
        60.0,
        "gemini says",
        "gemini",
    )
    assert first["analysis_source"] == "legacy"
    assert set(first["recommendations"]) == {"gpt", "gemini"}
    assert first["news"][0]["url"] == "u" and first["fundamentals"] == {"per": "N/A"}
    assert str(first["signal_date"])[:10] == "2025-12-29"
    assert str(first["generated_at"]) == "2026-01-03 20:46:14.767956+09:00"
    second = rows.loc["000660"]
    assert (second["model"], second["action"]) == ("gpt", "BUY")
    assert second["analysis_source"] == "gemini+openai"
    third = rows.loc["000670"]
    assert third["recommendations"] == {} and pd.isna(third["action"])
    run = parsed.table("scan_runs").frame.iloc[0]
    assert run["id"] == "legacy-ai-20251229" and run["kind"] == "ai-analysis"
    assert run["params"]["market_indices"]["kospi"]["value"] == 4309.63
    assert run["params"]["api_status"] == "ok" and run["counts"] == {"signals": 3}


def test_bad_ai_items_are_rejected() -> None:
    items = [
        ai_item(gpt_recommendation={"action": "MAYBE"}),
        ai_item(gemini_recommendation={"action": "BUY", "confidence": 120}),
        ai_item(gemini_recommendation="BUY"),
        ai_item(news="none"),
        ai_item(fundamentals=["per"]),
        ai_item(None),
    ]
    parsed = parse_ai_analysis(ai_file(items), "kr_ai_analysis.json")
    assert [r.reason for r in parsed.rejects] == [
        "unknown gpt_recommendation.action 'MAYBE'",
        "gemini_recommendation.confidence above 100: 120.0",
        "gemini_recommendation is not an object",
        "news is not a list",
        "fundamentals is not an object",
        "bad ticker: None",
    ]


def test_ai_date_from_either_file_name_form_and_bad_timestamp() -> None:
    parsed = parse_ai_analysis(
        ai_file([ai_item()], signal_date=None, generated_at="NaT"),
        "history/kr_ai_analysis_20260115.json",
    )
    assert parsed.table("scan_runs").frame.iloc[0]["id"] == "legacy-ai-20260115"
    assert pd.isna(parsed.table("ai_analyses").frame.iloc[0]["generated_at"])
    blank = parse_ai_analysis(ai_file([], generated_at=" "), "kr_ai_analysis.json")
    assert pd.isna(blank.table("scan_runs").frame.iloc[0]["finished_at"])
    unparsable = parse_ai_analysis(ai_file([], generated_at="yesterday"), "kr_ai_analysis.json")
    assert pd.isna(unparsable.table("scan_runs").frame.iloc[0]["finished_at"])
    dashed = parse_ai_analysis(
        ai_file([], signal_date=None, generated_at="2026-01-03T20:46:14+00:00"),
        "history/kr_ai_analysis_2025-12-29.json",
    )
    run = dashed.table("scan_runs").frame.iloc[0]
    assert run["id"] == "legacy-ai-20251229"
    assert str(run["finished_at"]) == "2026-01-04 05:46:14+09:00"


def test_discover_orders_files_and_lists_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "history").mkdir(parents=True)
    for name in (
        "daily_prices.csv",
        "korean_stocks_list.csv",
        "signals_log.csv",
        "jongga_v2_latest.json",
        "jongga_v2_results_20260116.json",
        "jongga_v2_results_20260115.json",
        "kr_ai_analysis.json",
        "strategy_performance.json",
        "history/kr_ai_analysis_20260115.json",
        "history/kr_ai_analysis_2025-12-29.json",
        "history/notes.txt",
    ):
        (data / name).write_text("")
    found, skipped = discover(tmp_path)  # the project folder: data/ is found
    assert [name for name, _ in found] == [
        "korean_stocks_list.csv",
        "daily_prices.csv",
        "signals_log.csv",
        "jongga_v2_results_20260115.json",
        "jongga_v2_results_20260116.json",
        "jongga_v2_latest.json",
        "history/kr_ai_analysis_2025-12-29.json",
        "history/kr_ai_analysis_20260115.json",
        "kr_ai_analysis.json",
    ]
    assert skipped == ["history/notes.txt", "strategy_performance.json"]
    assert discover(data)[0] == found


def test_parse_path_reads_bom_and_cp949(tmp_path: Path) -> None:
    from krstock.marketdata.legacy import parse_stock_list

    (tmp_path / "a.csv").write_bytes(
        "ticker,name,market,sector\n5930,삼성전자,KOSPI,\n".encode("cp949")
    )
    parsed = parse_path(tmp_path, "a.csv", parse_stock_list)
    assert parsed.stocks["name"].tolist() == ["삼성전자"]


def test_a_later_file_supersedes_the_same_keys_of_an_earlier_one() -> None:
    from krstock.ingest.importer import _drop_superseded

    results = parse_jongga(
        jongga_file([jongga_item(), jongga_item(660)]), "jongga_v2_results_20260116.json"
    )
    latest = parse_jongga(jongga_file([jongga_item(grade="A")]), "jongga_v2_latest.json")
    other = parse_jongga(jongga_file([], date="2026-01-15"), "jongga_v2_results_20260115.json")
    superseded = _drop_superseded([other, results, latest])
    assert superseded == {"jongga_v2_results_20260116.json": 1}
    assert results.table("signals").frame["ticker"].tolist() == ["000660"]
    assert results.table("scan_runs").frame.empty  # the same run id: the latest file's row wins
    assert latest.table("signals").frame["grade"].tolist() == ["A"]
    assert len(other.table("scan_runs").frame) == 1


def test_a_folder_without_history(tmp_path: Path) -> None:
    (tmp_path / "signals_log.csv").write_text("")
    found, skipped = discover(tmp_path)
    assert [name for name, _ in found] == ["signals_log.csv"] and skipped == []
