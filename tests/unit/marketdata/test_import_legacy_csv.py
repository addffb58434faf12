"""Legacy CSV parsers: stock list, Yahoo map, daily prices, flows and the signal ledger."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from krstock.marketdata.legacy import (
    FLOW_SUMMARY_COLUMNS,
    SIGNAL_COLUMNS,
    parse_daily_prices,
    parse_flows,
    parse_signals_log,
    parse_stock_list,
    parse_yahoo_map,
)
from krstock.marketdata.legacy_io import FileFormatError

GEN1_PRICES = "ticker,date,name,current_price,change,change_rate,high,low,open,volume,update_time"


def reasons(parsed) -> list[tuple[int | None, str]]:  # type: ignore[no-untyped-def]
    return [(r.line, r.reason) for r in parsed.rejects]


# ----------------------------------------------------------------- korean_stocks_list.csv


def test_stock_list_rows_rejects_and_duplicates() -> None:
    text = (
        "ticker,name,market,sector\n"
        "005930,삼성전자,KOSPI,\n"
        "660,SK하이닉스,KOSPI,반도체\n"
        "035720,카카오,NASDAQ,\n"
        "035420,,KOSPI,\n"
        "005935,삼성전자우,KOSPI,\n"
        "005930,삼성전자(신),KOSPI,전기전자\n"
    )
    parsed = parse_stock_list(text, "korean_stocks_list.csv")
    assert parsed.read == 6 and parsed.duplicates == 1
    assert reasons(parsed) == [(4, "unknown market 'NASDAQ'"), (5, "missing name")]
    stocks = parsed.stocks.set_index("ticker")
    assert stocks.index.tolist() == ["000660", "005935", "005930"]
    assert stocks.loc["005930", "name"] == "삼성전자(신)"  # last wins
    assert stocks.loc["005930", "sector"] == "전기전자"
    assert stocks.loc["000660", "sector"] == "반도체"
    assert bool(stocks.loc["005935", "is_preferred"])
    assert set(stocks["listing_status"]) == {"LISTED"}
    assert parsed.stock_mode == "authority" and parsed.tables == []


def test_stock_list_header_only_is_zero_rows() -> None:
    parsed = parse_stock_list("\ufeffticker,name,market,sector\n", "k.csv")
    assert parsed.read == 0 and parsed.stocks.empty and parsed.rejects == []


# ----------------------------------------------------------------- ticker_to_yahoo_map.csv


def test_yahoo_map_sets_symbols_and_rejects_bad_rows() -> None:
    text = (
        "ticker,market,yahoo_ticker,name\n"
        "005930,KOSPI,005930.KS,삼성전자\n"
        "91990,KOSDAQ,091990.KQ,셀트리온헬스케어\n"
        "000660,KOSPI,,SK하이닉스\n"
        "000670,KOSPI,000670.KS.TOO.LONG.SYMBOL,영풍\n"
    )
    parsed = parse_yahoo_map(text, "ticker_to_yahoo_map.csv")
    assert reasons(parsed) == [
        (4, "missing yahoo_ticker"),
        (5, "yahoo_ticker longer than 16 characters"),
    ]
    assert parsed.stocks["yahoo_symbol"].tolist() == ["005930.KS", "091990.KQ"]
    assert parsed.stocks["ticker"].tolist() == ["005930", "091990"]
    assert parsed.stock_mode == "yahoo"


# ----------------------------------------------------------------- daily_prices.csv


def test_gen1_prices_with_every_kind_of_bad_row() -> None:
    text = "\n".join(
        [
            GEN1_PRICES,
            "5930,2026-02-10,삼성전자,72000,1000,1.41,72500,70800,71000,15234567,2026-02-10 16:02",
            "005930,2026-02-09,삼성전자,71000,,,71500,70000,70500,100,2026-02-09 16:00:00",
            "005930,2026-02-11,,72000,0,0.0,0,0,0,0,2026-02-11 16:00:00",
            "005930,2026-02-30,삼성전자,1,1,1,1,1,1,1,x",
            "005930,2026-02-12,삼성전자,abc,1,1,1,1,1,1,x",
            "005930,2026-02-13,삼성전자,1,1,1,1,1,1,-7,x",
            "000660,2026-02-10,SK하이닉스,1,1,1",
            "000660,2026-02-10,SK하이닉스,1,1,1,1,1,1,1,x,extra",
            "005930,2026-02-10,삼성전자,72100,1100,1.55,72500,70800,71000,15234567,x",
        ]
    )
    parsed = parse_daily_prices(text, "daily_prices.csv")
    assert parsed.layout == "gen1" and parsed.read == 9
    assert reasons(parsed) == [
        (8, "truncated line: 6 of 11 fields"),
        (9, "wrong field count: 12 fields, expected 11"),
        (5, "impossible date in date: '2026-02-30'"),
        (6, "non-numeric current_price: 'abc'"),
        (7, "negative volume: -7"),
    ]
    prices = parsed.table("daily_prices").frame
    assert parsed.duplicates == 1
    assert prices["date"].dt.strftime("%m-%d").tolist() == ["02-09", "02-10", "02-11"]
    assert prices["close"].tolist() == [71000, 72100, 72000]  # the duplicate's last row won
    assert prices["change"].tolist()[1:] == [1100, 0]  # from the file
    assert pd.isna(prices.loc[0, "change"])  # empty, and the first day
    assert prices["halted"].tolist() == [False, False, True]
    assert parsed.stocks.set_index("ticker").loc["005930", "name"] == "삼성전자"


def test_gen1_close_variant_and_gen2_layout() -> None:
    gen1 = (
        GEN1_PRICES.replace("current_price", "close")
        + "\n000020,2024-01-02,동화약품,10,0,0,10,10,10,1,x\n"
    )
    assert parse_daily_prices(gen1, "d.csv").layout == "gen1-close"
    gen2 = (
        "date,ticker,open,high,low,close,volume,trading_value\n"
        "20240102,000020,10,12,9,11,100,1150\n"
        "2024-01-03,000020,11,13,10,12,100,\n"
    )
    parsed = parse_daily_prices(gen2, "daily_prices.csv")
    prices = parsed.table("daily_prices").frame
    assert parsed.layout == "gen2"
    assert prices["trading_value"].tolist() == [1150, 1200]  # given, then close × volume
    assert prices["change"].tolist()[1] == 1
    assert prices["change_pct"].tolist()[1] == pytest.approx(100 / 11)
    assert parsed.stocks["name"].tolist() == [""]
    assert parsed.stocks["market"].tolist() == ["UNKNOWN"]


def test_daily_prices_header_only_and_unknown_header() -> None:
    parsed = parse_daily_prices(GEN1_PRICES + "\n", "daily_prices.csv")
    assert parsed.read == 0 and parsed.table("daily_prices").frame.empty
    with pytest.raises(FileFormatError, match="unknown header"):
        parse_daily_prices("ticker;date;close\n005930;2024-01-02;1\n", "daily_prices.csv")


# ----------------------------------------------------------------- all_institutional_trend_data.csv


def test_gen2_flows_become_two_investor_rows_in_krw() -> None:
    text = (
        "date,ticker,foreign_buy,inst_buy\n"
        "2026-01-05,20,-51124195,3053210\n"
        "2026-01-06,000020,x,1\n"
        "2026-01-07,000020,1.5,1\n"
        "2026-01-05,000020,-1,-2\n"
    )
    parsed = parse_flows(text, "all_institutional_trend_data.csv")
    assert parsed.layout == "gen2" and parsed.duplicates == 1
    assert reasons(parsed) == [
        (3, "non-numeric foreign_buy: 'x'"),
        (4, "foreign_buy is not a whole number: 1.5"),
    ]
    flows = parsed.table("investor_flows").frame
    assert flows[["investor", "net_value"]].values.tolist() == [
        ["foreign", -1],
        ["institution", -2],
    ]
    assert flows["net_volume"].isna().all()
    assert set(flows["ticker"]) == {"000020"}


def _summary_line(ticker: str, scrape: str, total_days: str = "60") -> str:
    values = {c: "1" for c in FLOW_SUMMARY_COLUMNS}
    values.update(
        ticker=ticker,
        scrape_date=scrape,
        data_source="naver_finance_enhanced",
        total_days=total_days,
        foreign_net_buy_5d="-1200",
        institutional_net_buy_5d="300",
        supply_demand_index="71.5",
        supply_demand_stage="매집",
        institutional_trend="buying",
        risk_level="",
    )
    return ",".join(values[c] for c in FLOW_SUMMARY_COLUMNS)


def test_gen1_flow_summary_in_shares() -> None:
    text = "\n".join(
        [
            ",".join(FLOW_SUMMARY_COLUMNS),
            _summary_line("005930", "2026-02-10 15:30:00"),
            _summary_line("000660", "2026-02-10", total_days="-3"),
        ]
    )
    parsed = parse_flows(text, "all_institutional_trend_data.csv")
    assert parsed.layout == "gen1" and len(FLOW_SUMMARY_COLUMNS) == 37
    assert reasons(parsed) == [(3, "negative total_days: -3")]
    row = parsed.table("investor_flow_summaries").frame.iloc[0]
    assert row["ticker"] == "005930" and str(row["as_of_date"])[:10] == "2026-02-10"
    assert row["foreign_net_5d"] == -1200 and row["inst_net_5d"] == 300
    assert row["supply_demand_index"] == 71.5 and row["supply_demand_stage"] == "매집"
    assert row["extras"]["institutional_trend"] == "buying"
    assert row["extras"]["momentum_score"] == 1.0
    assert row["extras"]["risk_level"] is None


# ----------------------------------------------------------------- signals_log.csv

GEN1_LEDGER = (
    "signal_date,ticker,foreign_5d,inst_5d,score,contraction_ratio,entry_price,status,"
    "exit_price,exit_date,return_pct,hold_days"
)


def test_gen1_ledger_statuses_exits_and_rejects() -> None:
    text = "\n".join(
        [
            GEN1_LEDGER,
            "2026-02-05,000100,253791,-77489,70.3,0.635,108800.0,CLOSED,107200.0,2026-02-10,-1.47,5",
            "2026-02-05,000680,1,1,70,0.5,3545.0,CLOSED,3200.0,2026-02-07,-9.73,2",
            "2026-02-27,66910,148767,26889,74.7,0.494,667.0,OPEN,,,,0",
            "2026-02-06,000100,1,1,70,0.5,100.0,CLOSED,101.0,2026-02-07,1.0,1",
            "2026-02-05,000200,1,1,70,0.5,100.0,WAITING,,,,0",
            "2026-02-05,000300,1,1,70,0.5,100.0,CLOSED,,2026-02-07,1.0,2",
            "2026-02-05,000400,1,1,70,0.5,-100.0,OPEN,,,,0",
            "2026-02-05,000500,1,1,70,0.5,100.0,CLOSED,1.0,,1.0,2",
            "2026-02-05,000600,1,1,70,0.5,100.0,CLOSED,1.0,2026-02-06,,2",
        ]
    )
    parsed = parse_signals_log(text, "signals_log.csv")
    assert reasons(parsed) == [
        (6, "unknown status 'WAITING'"),
        (7, "CLOSED without exit_price"),
        (8, "negative entry_price: -100.0"),
        (9, "CLOSED without exit_date"),
        (10, "CLOSED without return_pct"),
    ]
    signals = parsed.table("signals").frame.set_index(["ticker", "signal_date"])
    assert list(parsed.table("signals").frame.columns) == SIGNAL_COLUMNS
    first = signals.loc[("000100", pd.Timestamp("2026-02-05"))]
    assert first["exit_reason"] == "TIME_EXIT" and first["hold_days"] == 5
    assert first["foreign_5d"] == 253791 and first["flow_unit"] == "shares"
    assert first["payload"]["entry_price"] == "108800.0"
    assert signals.loc[("000680", pd.Timestamp("2026-02-05")), "exit_reason"] == "STOP_LOSS"
    assert pd.isna(signals.loc[("000100", pd.Timestamp("2026-02-06")), "exit_reason"])
    opened = signals.loc[("066910", pd.Timestamp("2026-02-27"))]
    assert opened["status"] == "OPEN" and pd.isna(opened["exit_date"])
    assert set(parsed.table("signals").frame["strategy"]) == {"vcp-legacy"}


def test_gen2_ledger_in_krw_with_names_and_markets() -> None:
    text = (
        "ticker,name,signal_date,market,status,score,contraction_ratio,entry_price,foreign_5d,"
        "inst_5d,vcp_score,current_price,ai_action,ai_confidence,ai_reason,return_pct\n"
        "005930,삼성전자,2026-02-10,KOSPI,OPEN,80,0.4,72000,1000000000,-5,12,73000,BUY,80,좋음,1.39\n"
        "000660,SK하이닉스,2026-02-10,KOSPI,open,80,0.4,72000,1,1,,73000,,,,\n"
    )
    parsed = parse_signals_log(text, "signals_log.csv")
    signals = parsed.table("signals").frame
    assert parsed.layout == "gen2" and parsed.rejects == []
    assert signals["flow_unit"].tolist() == ["krw", "krw"]
    assert signals["status"].tolist() == ["OPEN", "OPEN"]
    assert signals["score_breakdown"].tolist() == [{"vcp_score": 12.0}, {}]
    assert signals["current_price"].tolist() == [73000.0, 73000.0]
    assert signals["exit_reason"].isna().all() and signals["hold_days"].isna().all()
    stocks = parsed.stocks.set_index("ticker")
    assert stocks.loc["005930", "name"] == "삼성전자" and stocks.loc["000660", "market"] == "KOSPI"


def test_gen2_ledger_header_only_file() -> None:
    header = (
        "ticker,name,signal_date,market,status,score,contraction_ratio,entry_price,foreign_5d,"
        "inst_5d,vcp_score,current_price,ai_action,ai_confidence,ai_reason,return_pct\n"
    )
    parsed = parse_signals_log(header, "signals_log.csv")
    assert parsed.read == 0 and parsed.table("signals").frame.empty
    assert np.array_equal(parsed.table("signals").frame.columns, SIGNAL_COLUMNS)
