"""Parsers for the monolith's ``data/`` folder (formats: shared/spec/monolith.md §3).

Each parser turns one file into typed frames for the database tables plus a list of rejects
(file, line, reason, raw). Parsing never touches the database; ``krstock.ingest`` writes the
frames. A fatal problem with the whole file raises ``FileFormatError``.

Units are kept apart: Gen1 flows are shares (``investor_flow_summaries``, signals with
``flow_unit='shares'``), Gen2 flows are KRW (``investor_flows.net_value``, ``flow_unit='krw'``).
Naive timestamps written by the monolith are Korea time (it ran on KST).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from krstock.marketdata.krx_csv import DERIVED_PRICE_COLUMNS, finish_prices
from krstock.marketdata.legacy_io import (
    CsvTable,
    FileFormatError,
    ObjectArray,
    Reject,
    RowChecks,
    decimals,
    dedupe_last,
    normalize_ticker,
    parse_date,
    read_text,
    stock_frame,
    tokenize_csv,
)
from krstock.marketdata.legacy_quality import (
    MONOLITH_PRESET,
    QUALITY_FLAGS_KEY,
    closing_bet_preset,
    ledger_flags,
)

SOURCE = "legacy"
KST = "Asia/Seoul"
MARKETS = ("KOSPI", "KOSDAQ", "KONEX")
SIGNAL_STATUSES = ("PENDING", "OPEN", "CLOSED", "CANCELLED")
LEDGER_STATUSES = ("OPEN", "CLOSED")
GRADES = ("S", "A", "B", "C")
AI_ACTIONS = ("BUY", "HOLD", "SELL", "N/A")
VCP_STRATEGY = "vcp-legacy"
CLOSING_STRATEGY = "closing-bet"
# The Gen1 tracker closes with STOP_LOSS at return <= -7 %, else TIME_EXIT after 5 calendar days.
TRACKER_STOP_LOSS_PCT = -7.0
TRACKER_MAX_HOLD_DAYS = 5

SIGNAL_COLUMNS = [
    "strategy", "ticker", "signal_date", "status", "grade", "score", "score_breakdown",
    "entry_price", "stop_price", "target_price", "quantity", "position_size",
    "foreign_5d", "inst_5d", "flow_unit", "contraction_ratio", "current_price",
    "exit_price", "exit_date", "exit_reason", "return_pct", "hold_days", "run_id", "payload",
    "policy_name",
]  # fmt: skip
SIGNAL_KEYS = ["strategy", "signal_date", "ticker"]

STOCK_LIST_LAYOUTS = {"gen1": ["ticker", "name", "market", "sector"]}
YAHOO_LAYOUTS = {"gen1": ["ticker", "market", "yahoo_ticker", "name"]}
PRICE_LAYOUTS = {
    "gen1": [
        "ticker", "date", "name", "current_price", "change", "change_rate",
        "high", "low", "open", "volume", "update_time",
    ],
    # Gen1 readers accept ``close`` in place of ``current_price``.
    "gen1-close": [
        "ticker", "date", "name", "close", "change", "change_rate",
        "high", "low", "open", "volume", "update_time",
    ],
    "gen2": ["date", "ticker", "open", "high", "low", "close", "volume", "trading_value"],
}  # fmt: skip
PRICE_NUMERIC = frozenset(
    ["current_price", "close", "change", "change_rate", "high", "low", "open", "volume",
     "trading_value"]
)  # fmt: skip
FLOW_NUMERIC = frozenset(["foreign_buy", "inst_buy"])
_WINDOWS = ("60d", "20d", "10d", "5d")
FLOW_SUMMARY_COLUMNS = [
    "ticker", "scrape_date", "data_source", "total_days",
    *(f"institutional_net_buy_{w}" for w in _WINDOWS),
    *(f"foreign_net_buy_{w}" for w in _WINDOWS),
    *(f"total_volume_{w}" for w in _WINDOWS),
    *(f"institutional_ratio_{w}" for w in _WINDOWS),
    *(f"foreign_ratio_{w}" for w in _WINDOWS),
    "price_change_60d", "institutional_trend", "foreign_trend",
    "supply_demand_index", "supply_demand_stage",
    "strong_accumulation", "accumulation_signal", "accumulation_intensity", "trend_strength",
    "momentum_score", "consistency_score", "volume_pattern", "risk_level",
]  # fmt: skip
FLOW_LAYOUTS = {
    "gen1": FLOW_SUMMARY_COLUMNS,
    "gen2": ["date", "ticker", "foreign_buy", "inst_buy"],
}
LEDGER_LAYOUTS = {
    "gen1": [
        "signal_date", "ticker", "foreign_5d", "inst_5d", "score", "contraction_ratio",
        "entry_price", "status", "exit_price", "exit_date", "return_pct", "hold_days",
    ],
    "gen2": [
        "ticker", "name", "signal_date", "market", "status", "score", "contraction_ratio",
        "entry_price", "foreign_5d", "inst_5d", "vcp_score", "current_price", "ai_action",
        "ai_confidence", "ai_reason", "return_pct",
    ],
}  # fmt: skip


@dataclass
class TableRows:
    """Rows for one table and the unique key they are upserted on."""

    table: str
    frame: pd.DataFrame
    keys: list[str]
    # How a row matching a stored key counts as a change (db.bulk.UpdateRules): columns rounded
    # to so many decimals in the file, and columns that only say where the row came from.
    precision: dict[str, int] = field(default_factory=dict)
    provenance: frozenset[str] = frozenset()
    keep_on_null: frozenset[str] = frozenset()


@dataclass
class ParsedFile:
    """One legacy file, parsed. ``tables`` are written in order after ``stocks`` is merged.

    ``stock_mode`` says how ``stocks`` merges with what the database holds: ``authority``
    (the universe file: its name/market/sector win), ``yahoo`` (sets yahoo_symbol, fills unknowns)
    or ``fill`` (creates missing stocks and fills unknown names/markets only).
    ``verify`` names the table whose keys are counted back after the write.
    """

    file: str
    kind: str
    layout: str
    read: int
    tables: list[TableRows]
    stocks: pd.DataFrame
    stock_mode: str
    verify: str
    rejects: list[Reject] = field(default_factory=list)
    duplicates: int = 0
    # Rows kept but whose numbers cannot be right (legacy_quality): one dict per row.
    flagged: list[dict[str, Any]] = field(default_factory=list)

    def table(self, name: str) -> TableRows:
        if name == "stocks":
            return TableRows("stocks", self.stocks, ["ticker"])
        return next(t for t in self.tables if t.table == name)


# --------------------------------------------------------------------------- helpers


def _empty_to_none(values: ObjectArray) -> list[str | None]:
    return [None if v == "" else v for v in values]


def _ints(values: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.array(np.where(np.isfinite(values), np.round(values), np.nan), dtype="Int64")


def _dates_or_none(values: np.ndarray) -> pd.Series:
    return pd.Series(values.astype("datetime64[s]"))


def _row_payloads(table: CsvTable, ok: np.ndarray) -> list[dict[str, Any]]:
    cols = [table.columns[c][ok] for c in table.header]
    return [dict(zip(table.header, row, strict=True)) for row in zip(*cols, strict=True)]


def _stocks_from_rows(
    tickers: ObjectArray, names: ObjectArray | None = None, markets: ObjectArray | None = None
) -> pd.DataFrame:
    """One stock per ticker with the last non-empty name and market seen for it."""
    last: dict[str, dict[str, str]] = {t: {"name": "", "market": ""} for t in pd.unique(tickers)}
    for column, values in (("name", names), ("market", markets)):
        if values is None:
            continue
        given = np.asarray(values, dtype=object) != ""
        known = pd.DataFrame({"ticker": tickers[given], column: values[given]})
        known = known.drop_duplicates("ticker", keep="last")
        for ticker, value in zip(known["ticker"], known[column], strict=True):
            last[ticker][column] = value
    tickers_list = list(last)
    return stock_frame(
        tickers_list,
        [last[t]["name"] for t in tickers_list],
        [last[t]["market"] if last[t]["market"].upper() in MARKETS else None for t in tickers_list],
        listing_status="UNKNOWN",
        source=SOURCE,
    )


def _timestamp(value: object) -> pd.Timestamp | None:
    """An ISO timestamp; naive ones are Korea time. None when missing or unparsable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        stamp = pd.Timestamp(value.strip())
    except (ValueError, TypeError):
        return None
    if pd.isna(stamp):
        return None
    return stamp.tz_localize(KST) if stamp.tzinfo is None else stamp


def _date_in_name(name: str) -> np.datetime64 | None:
    match = re.search(r"(\d{4}-\d{2}-\d{2}|\d{8})", name)
    return parse_date(match.group(1)) if match else None


def _compact(day: np.datetime64) -> str:
    return str(day).replace("-", "")


# --------------------------------------------------------------------------- CSV parsers


def parse_stock_list(text: str, file: str) -> ParsedFile:
    """``korean_stocks_list.csv`` → stocks (the universe; its names and markets win)."""
    layout, table = tokenize_csv(text, file, STOCK_LIST_LAYOUTS)
    checks = RowChecks(table)
    tickers = checks.ticker()
    names = checks.text("name", required=True)
    checks.text("market", required=True)
    markets = checks.choice("market", MARKETS)
    sectors = checks.text("sector")
    ok = checks.ok
    frame = pd.DataFrame(
        {"ticker": tickers[ok], "name": names[ok], "market": markets[ok], "sector": sectors[ok]}
    )
    frame, duplicates = dedupe_last(frame, ["ticker"])
    stocks = stock_frame(
        list(frame["ticker"]),
        list(frame["name"]),
        list(frame["market"]),
        list(frame["sector"]),
        listing_status="LISTED",
        source=SOURCE,
    )
    return ParsedFile(
        file, "stocks", layout, table.rows_read, [], stocks, "authority", "stocks",
        table.rejects + checks.rejects(), duplicates,
    )  # fmt: skip


def parse_yahoo_map(text: str, file: str) -> ParsedFile:
    """``ticker_to_yahoo_map.csv`` → stocks.yahoo_symbol (and name/market where unknown)."""
    layout, table = tokenize_csv(text, file, YAHOO_LAYOUTS)
    checks = RowChecks(table)
    tickers = checks.ticker()
    markets = checks.choice("market", MARKETS)
    symbols = checks.text("yahoo_ticker", required=True)
    too_long = np.array([len(s) > 16 for s in symbols], dtype=bool)
    checks.fail(too_long, "yahoo_ticker longer than 16 characters")
    names = checks.text("name")
    ok = checks.ok
    frame = pd.DataFrame(
        {"ticker": tickers[ok], "name": names[ok], "market": markets[ok], "yahoo": symbols[ok]}
    )
    frame, duplicates = dedupe_last(frame, ["ticker"])
    stocks = stock_frame(
        list(frame["ticker"]),
        list(frame["name"]),
        list(frame["market"]),
        listing_status="LISTED",
        source=SOURCE,
        yahoo_symbols=list(frame["yahoo"]),
    )
    return ParsedFile(
        file, "stocks", layout, table.rows_read, [], stocks, "yahoo", "stocks",
        table.rejects + checks.rejects(), duplicates,
    )  # fmt: skip


def parse_daily_prices(text: str, file: str) -> ParsedFile:
    """``daily_prices.csv`` (Gen1 or Gen2) → daily_prices (+ stocks with the names it carries).

    Gen1 ``change`` and ``change_rate`` are kept when given (computed when empty); neither
    layout has a reliable trading value in Gen1, so it is estimated as close × volume there.
    """
    layout, table = tokenize_csv(text, file, PRICE_LAYOUTS, numeric=PRICE_NUMERIC)
    checks = RowChecks(table)
    tickers = checks.ticker()
    days = checks.date("date")
    close_col = "current_price" if layout == "gen1" else "close"
    parsed: dict[str, Any] = {"ticker": tickers, "date": days}
    for name, col in (
        ("open", "open"),
        ("high", "high"),
        ("low", "low"),
        ("close", close_col),
        ("volume", "volume"),
    ):
        parsed[name] = checks.number(col, nonneg=True, whole=True)
    if layout == "gen2":
        parsed["trading_value"] = checks.number("trading_value", required=False, nonneg=True)
    else:
        parsed["change"] = checks.number("change", required=False, whole=True)
        parsed["change_pct"] = checks.number("change_rate", required=False)
    ok = checks.ok
    frame = pd.DataFrame({k: v[ok] for k, v in parsed.items()})
    prices, duplicates = finish_prices(frame, SOURCE)
    names = table.columns["name"][ok] if "name" in table.columns else None
    stocks = _stocks_from_rows(tickers[ok], names)
    # The monolith rounded change_rate when it wrote the file: a stored rate with more digits
    # that rounds to it is the same number, kept rather than cut; the source label alone is
    # no change (the file is often a copy of prices already loaded from KRX).
    digits = decimals(frame["change_pct"]) if "change_pct" in frame else None
    rows = TableRows(
        "daily_prices", prices, ["ticker", "date"],
        precision={} if digits is None else {"change_pct": digits},
        provenance=frozenset({"source"}),
        keep_on_null=DERIVED_PRICE_COLUMNS,
    )  # fmt: skip
    return ParsedFile(
        file, "daily_prices", layout, table.rows_read, [rows],
        stocks, "fill", "daily_prices", table.rejects + checks.rejects(), duplicates,
    )  # fmt: skip


def parse_flows(text: str, file: str) -> ParsedFile:
    """``all_institutional_trend_data.csv``: Gen1 per-ticker summary in shares →
    investor_flow_summaries; Gen2 daily KRW → investor_flows (foreign, institution)."""
    layout, table = tokenize_csv(text, file, FLOW_LAYOUTS, numeric=FLOW_NUMERIC)
    if layout == "gen1":
        return _parse_flow_summary(table, layout)
    checks = RowChecks(table)
    days = checks.date("date")
    tickers = checks.ticker()
    foreign = checks.number("foreign_buy", whole=True)
    inst = checks.number("inst_buy", whole=True)
    ok = checks.ok
    rows = pd.DataFrame(
        {"ticker": tickers[ok], "date": days[ok], "foreign": foreign[ok], "institution": inst[ok]}
    )
    rows, duplicates = dedupe_last(rows, ["ticker", "date"])
    long = rows.melt(
        id_vars=["ticker", "date"],
        value_vars=["foreign", "institution"],
        var_name="investor",
        value_name="net_value",
    )
    flows = pd.DataFrame(
        {
            "ticker": long["ticker"].astype(object),
            "date": long["date"].to_numpy(dtype="datetime64[s]"),
            "investor": long["investor"].astype(object),
            "net_volume": pd.array([pd.NA] * len(long), dtype="Int64"),
            "net_value": _ints(long["net_value"].to_numpy(dtype=np.float64)),
            "source": SOURCE,
        }
    ).sort_values(["ticker", "date", "investor"], ignore_index=True)
    return ParsedFile(
        table.file, "investor_flows", layout, table.rows_read,
        [TableRows("investor_flows", flows, ["ticker", "date", "investor"])],
        _stocks_from_rows(tickers[ok]), "fill", "investor_flows",
        table.rejects + checks.rejects(), duplicates,
    )  # fmt: skip


def _parse_flow_summary(table: CsvTable, layout: str) -> ParsedFile:
    checks = RowChecks(table)
    tickers = checks.ticker()
    as_of = checks.date("scrape_date")
    total_days = checks.number("total_days", required=False, nonneg=True, whole=True)
    nets = {
        f"{short}_net_{w}": checks.number(f"{long}_net_buy_{w}", required=False, whole=True)
        for short, long in (("inst", "institutional"), ("foreign", "foreign"))
        for w in _WINDOWS
    }
    for w in _WINDOWS:
        checks.number(f"total_volume_{w}", required=False, nonneg=True)
    sdi = checks.number("supply_demand_index", required=False)
    ok = checks.ok
    kept = {"ticker", "scrape_date", "data_source", "total_days", "supply_demand_index"}
    kept |= {f"{long}_net_buy_{w}" for long in ("institutional", "foreign") for w in _WINDOWS}
    kept.add("supply_demand_stage")
    extra_cols = [c for c in table.header if c not in kept]
    extras = [
        {c: _json_scalar(table.columns[c][i]) for c in extra_cols} for i in np.flatnonzero(ok)
    ]
    frame = pd.DataFrame(
        {
            "ticker": tickers[ok],
            "as_of_date": as_of[ok].astype("datetime64[s]"),
            "data_source": _empty_to_none(table.columns["data_source"][ok]),
            "total_days": _ints(total_days[ok]),
            **{name: _ints(values[ok]) for name, values in nets.items()},
            "supply_demand_index": sdi[ok],
            "supply_demand_stage": _empty_to_none(table.columns["supply_demand_stage"][ok]),
            "extras": extras,
        }
    )
    frame, duplicates = dedupe_last(frame, ["ticker", "as_of_date"])
    return ParsedFile(
        table.file, "investor_flow_summaries", layout, table.rows_read,
        [TableRows("investor_flow_summaries", frame, ["ticker", "as_of_date"])],
        _stocks_from_rows(tickers[ok]), "fill", "investor_flow_summaries",
        table.rejects + checks.rejects(), duplicates,
    )  # fmt: skip


def _json_scalar(value: str) -> float | str | None:
    """A summary cell for the ``extras`` JSON: a number when it is one, else the text."""
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    return number if np.isfinite(number) else value


def parse_signals_log(text: str, file: str) -> ParsedFile:
    """``signals_log.csv`` (Gen1 shares / Gen2 KRW) → signals of strategy ``vcp-legacy``.

    Gen1 stores no close reason; it is derived from the Gen1 tracker's two exits
    (return <= -7 % → STOP_LOSS, otherwise hold_days >= 5 → TIME_EXIT) and left empty when
    neither rule explains the close. The original row is kept in ``payload``, with
    ``quality_flags`` added when its close cannot be right (``legacy_quality.ledger_flags``).
    The ledger does not say which preset wrote it (p10's VCP volume check leaves no trace in a
    row): ``policy_name`` is ``monolith``, the tracker whose exits it follows.
    """
    layout, table = tokenize_csv(text, file, LEDGER_LAYOUTS)
    checks = RowChecks(table)
    days = checks.date("signal_date")
    tickers = checks.ticker()
    statuses = checks.choice("status", LEDGER_STATUSES)
    score = checks.number("score", required=False)
    contraction = checks.number("contraction_ratio", required=False, nonneg=True)
    entry = checks.number("entry_price", nonneg=True)
    foreign = checks.number("foreign_5d", required=False, whole=True)
    inst = checks.number("inst_5d", required=False, whole=True)
    returns = checks.number("return_pct", required=False)
    n = len(table)
    nan = np.full(n, np.nan)
    nat = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if layout == "gen1":
        exit_price = checks.number("exit_price", required=False, nonneg=True)
        exit_date = checks.date("exit_date", required=False)
        hold_days = checks.number("hold_days", required=False, nonneg=True, whole=True)
        closed = statuses == "CLOSED"
        checks.fail(closed & np.isnan(exit_price), "CLOSED without exit_price")
        checks.fail(closed & np.isnat(exit_date), "CLOSED without exit_date")
        checks.fail(closed & np.isnan(returns), "CLOSED without return_pct")
        current = nan
        breakdown: list[dict[str, Any]] = [{} for _ in range(n)]
        flow_unit = "shares"
    else:
        checks.number("vcp_score", required=False)
        current = checks.number("current_price", required=False, nonneg=True)
        exit_price, exit_date, hold_days = nan, nat, nan
        vcp = pd.to_numeric(pd.Series(table.columns["vcp_score"]), errors="coerce").to_numpy()
        breakdown = [{} if np.isnan(v) else {"vcp_score": float(v)} for v in vcp]
        flow_unit = "krw"
    ok = checks.ok
    closed = statuses == "CLOSED"
    reason = np.full(n, None, dtype=object)
    reason[closed & (hold_days >= TRACKER_MAX_HOLD_DAYS)] = "TIME_EXIT"
    reason[closed & (returns <= TRACKER_STOP_LOSS_PCT)] = "STOP_LOSS"
    ok = checks.ok
    payloads = _row_payloads(table, ok)
    flags = ledger_flags(days[ok], exit_date[ok], entry[ok], exit_price[ok])
    for payload, row_flags in zip(payloads, flags, strict=True):
        if row_flags:
            payload[QUALITY_FLAGS_KEY] = row_flags
    signals = pd.DataFrame(
        {
            "strategy": VCP_STRATEGY,
            "ticker": tickers[ok],
            "signal_date": days[ok].astype("datetime64[s]"),
            "status": statuses[ok],
            "grade": None,
            "score": score[ok],
            "score_breakdown": [breakdown[i] for i in np.flatnonzero(ok)],
            "entry_price": entry[ok],
            "stop_price": pd.array([pd.NA] * int(ok.sum()), dtype="Int64"),
            "target_price": pd.array([pd.NA] * int(ok.sum()), dtype="Int64"),
            "quantity": pd.array([pd.NA] * int(ok.sum()), dtype="Int64"),
            "position_size": pd.array([pd.NA] * int(ok.sum()), dtype="Int64"),
            "foreign_5d": _ints(foreign[ok]),
            "inst_5d": _ints(inst[ok]),
            "flow_unit": flow_unit,
            "contraction_ratio": contraction[ok],
            "current_price": current[ok],
            "exit_price": exit_price[ok],
            "exit_date": _dates_or_none(exit_date[ok]),
            "exit_reason": reason[ok],
            "return_pct": returns[ok],
            "hold_days": _ints(hold_days[ok]),
            "run_id": None,
            "payload": payloads,
            "policy_name": MONOLITH_PRESET,
        }
    )[SIGNAL_COLUMNS]
    signals, duplicates = dedupe_last(signals, SIGNAL_KEYS)
    flagged = _flagged_rows(signals)
    names = table.columns["name"][ok] if layout == "gen2" else None
    markets = table.columns["market"][ok] if layout == "gen2" else None
    return ParsedFile(
        file, "signals", layout, table.rows_read,
        [TableRows("signals", signals, SIGNAL_KEYS)],
        _stocks_from_rows(tickers[ok], names, markets), "fill", "signals",
        table.rejects + checks.rejects(), duplicates, flagged,
    )  # fmt: skip


def _flagged_rows(signals: pd.DataFrame) -> list[dict[str, Any]]:
    """The import report's view of the rows that carry quality flags."""
    out = []
    for row in signals.to_dict("records"):
        flags = row["payload"].get(QUALITY_FLAGS_KEY)
        if flags:
            exit_day = row["exit_date"]
            out.append(
                {
                    "ticker": row["ticker"],
                    "signal_date": str(row["signal_date"])[:10],
                    "exit_date": None if pd.isna(exit_day) else str(exit_day)[:10],
                    "entry_price": float(row["entry_price"]),
                    "exit_price": float(row["exit_price"]),
                    "return_pct": float(row["return_pct"]),
                    "flags": list(flags),
                }
            )
    return out


# --------------------------------------------------------------------------- JSON parsers


def _load_json(text: str, file: str) -> dict[str, Any]:
    if not text.strip():
        raise FileFormatError(f"{file}: empty file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{file}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("signals"), list):
        raise FileFormatError(f"{file}: unknown layout (expected an object with a 'signals' list)")
    return data


def item_lines(text: str, count: int) -> list[int | None]:
    """The line on which each element of the top-level ``signals`` array starts."""
    # The top-level key sits at indent 2 in the monolith's files; compact JSON: first occurrence.
    match = re.search(r'^\s{0,2}"signals"\s*:\s*\[', text, flags=re.MULTILINE) or re.search(
        r'"signals"\s*:\s*\[', text
    )
    if match is None:
        return [None] * count
    decoder = json.JSONDecoder()
    lines: list[int | None] = []
    pos = match.end()
    line = text.count("\n", 0, pos) + 1
    last = pos
    while len(lines) < count:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        line += text.count("\n", last, pos)
        last = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)
    return lines + [None] * (count - len(lines))


class _ItemError(ValueError):
    """One JSON item cannot be loaded (becomes a reject)."""


def _number(item: dict[str, Any], key: str, *, nonneg: bool = False) -> float | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _ItemError(f"non-numeric {key}: {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _ItemError(f"non-numeric {key}: {value!r}") from None
    if not np.isfinite(number):
        raise _ItemError(f"non-numeric {key}: {value!r}")
    if nonneg and number < 0:
        raise _ItemError(f"negative {key}: {value}")
    return number


def _int(item: dict[str, Any], key: str, *, nonneg: bool = False) -> int | None:
    number = _number(item, key, nonneg=nonneg)
    return None if number is None else round(number)


def _item_date(item: dict[str, Any], key: str, default: np.datetime64) -> np.datetime64:
    value = item.get(key)
    if value is None or value == "":
        return default
    day = parse_date(value)
    if day is None:
        raise _ItemError(f"impossible or bad {key}: {value!r}")
    return day


def _item_ticker(item: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if key in item:
            ticker = normalize_ticker(item[key])
            if ticker is None:
                raise _ItemError(f"bad {key}: {item[key]!r}")
            return ticker
    raise _ItemError(f"missing {' / '.join(keys)}")


def _parse_items(
    text: str, file: str, items: list[Any], parse: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[Reject]]:
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    lines = item_lines(text, len(items))
    for item, line in zip(items, lines, strict=True):
        try:
            if not isinstance(item, dict):
                raise _ItemError("signal is not a JSON object")
            rows.append(parse(item))
        except _ItemError as exc:
            raw = json.dumps(item, ensure_ascii=False)
            rejects.append(Reject(file, line, str(exc), raw))
    return rows, rejects


def _file_day(data: dict[str, Any], key: str, file: str) -> np.datetime64:
    value = data.get(key)
    day = parse_date(value) if isinstance(value, str) else None
    if day is None:
        day = _date_in_name(Path(file).name)
    if day is None:
        raise FileFormatError(f"{file}: no valid {key!r} in the file and no date in its name")
    return day


def _scan_run(run_id: str, kind: str, day: np.datetime64, counts: dict[str, Any],
              params: dict[str, Any], finished: pd.Timestamp | None) -> pd.DataFrame:  # fmt: skip
    return pd.DataFrame(
        {
            "id": [run_id],
            "kind": [kind],
            "scan_date": [day.astype("datetime64[s]")],
            "status": ["SUCCEEDED"],
            "progress": [100.0],
            "counts": [counts],
            "params": [params],
            "error": [None],
            "source": [SOURCE],
            "started_at": pd.Series([None], dtype="datetime64[us, Asia/Seoul]"),
            "finished_at": pd.Series([finished], dtype="datetime64[us, Asia/Seoul]"),
        }
    )


def _frame(
    rows: list[dict[str, Any]], columns: list[str], keys: list[str]
) -> tuple[pd.DataFrame, int]:
    frame = pd.DataFrame(rows, columns=columns)
    return dedupe_last(frame, keys)


def parse_jongga(text: str, file: str) -> ParsedFile:
    """``jongga_v2_results_YYYYMMDD.json`` / ``jongga_v2_latest.json`` → signals of strategy
    ``closing-bet`` (status and grade from the file, score total, the score object as the
    breakdown, sizing, the whole item as payload) and one ``scan_runs`` row for the file.

    The Gen1 engine reads ``foreign_5d``/``inst_5d`` from the Gen1 flow summary, so they are
    taken as shares.
    """
    data = _load_json(text, file)
    day = _file_day(data, "date", file)
    run_id = f"legacy-jongga-{_compact(day)}"
    preset = closing_bet_preset(data["signals"])

    def parse(item: dict[str, Any]) -> dict[str, Any]:
        ticker = _item_ticker(item, "stock_code", "ticker")
        signal_date = _item_date(item, "signal_date", day)
        status = item.get("status")
        if not isinstance(status, str) or not status:
            raise _ItemError("missing status")
        if status.upper() not in SIGNAL_STATUSES:
            raise _ItemError(f"unknown status {status!r}")
        grade = item.get("grade")
        if grade is not None and (not isinstance(grade, str) or grade.upper() not in GRADES):
            raise _ItemError(f"unknown grade {grade!r}")
        score_obj = item.get("score")
        if isinstance(score_obj, dict):
            total = _number(score_obj, "total")
            breakdown = score_obj
        else:
            total = _number(item, "score")
            breakdown = {}
        if total is None:
            raise _ItemError("missing score.total")
        foreign = _int(item, "foreign_5d")
        inst = _int(item, "inst_5d")
        return {
            "strategy": CLOSING_STRATEGY,
            "ticker": ticker,
            "signal_date": signal_date,
            "status": status.upper(),
            "grade": grade.upper() if isinstance(grade, str) else None,
            "score": total,
            "score_breakdown": breakdown,
            "entry_price": _number(item, "entry_price", nonneg=True),
            "stop_price": _int(item, "stop_price", nonneg=True),
            "target_price": _int(item, "target_price", nonneg=True),
            "quantity": _int(item, "quantity", nonneg=True),
            "position_size": _int(item, "position_size", nonneg=True),
            "foreign_5d": foreign,
            "inst_5d": inst,
            "flow_unit": "shares" if foreign is not None or inst is not None else None,
            "contraction_ratio": None,
            "current_price": _number(item, "current_price", nonneg=True),
            "exit_price": None,
            "exit_date": None,
            "exit_reason": None,
            "return_pct": None,
            "hold_days": None,
            "run_id": run_id,
            "payload": item,
            "policy_name": preset,
            "_name": item.get("stock_name") or item.get("name") or "",
            "_market": item.get("market") or "",
        }

    rows, rejects = _parse_items(text, file, data["signals"], parse)
    frame, duplicates = _frame(rows, [*SIGNAL_COLUMNS, "_name", "_market"], SIGNAL_KEYS)
    signals = _typed_signals(frame)
    stocks = _stocks_from_rows(
        frame["ticker"].to_numpy(dtype=object),
        frame["_name"].astype(str).to_numpy(dtype=object),
        frame["_market"].astype(str).to_numpy(dtype=object),
    )
    counts = {
        k: data.get(k)
        for k in (
            "total_candidates",
            "filtered_count",
            "by_grade",
            "by_market",
            "processing_time_ms",
        )
    }
    runs = _scan_run(
        run_id,
        CLOSING_STRATEGY,
        day,
        counts,
        {"legacy_file": file, "preset": preset},
        _timestamp(data.get("updated_at")),
    )
    return ParsedFile(
        file, "signals", "jongga-v2", len(data["signals"]),
        [TableRows("scan_runs", runs, ["id"]), TableRows("signals", signals, SIGNAL_KEYS)],
        stocks, "fill", "signals", rejects, duplicates,
    )  # fmt: skip


def _typed_signals(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[SIGNAL_COLUMNS].copy()
    for col in (
        "stop_price",
        "target_price",
        "quantity",
        "position_size",
        "foreign_5d",
        "inst_5d",
        "hold_days",
    ):
        out[col] = pd.array(out[col].tolist(), dtype="Int64")
    for col in (
        "score",
        "entry_price",
        "contraction_ratio",
        "current_price",
        "exit_price",
        "return_pct",
    ):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(np.float64)
    out["signal_date"] = pd.Series(
        np.array(out["signal_date"].tolist(), dtype="datetime64[D]").astype("datetime64[s]"),
        index=out.index,
    )
    return out


AI_COLUMNS = [
    "ticker", "signal_date", "analysis_source", "action", "confidence", "reason", "model",
    "recommendations", "news", "fundamentals", "payload", "generated_at",
]  # fmt: skip
AI_KEYS = ["ticker", "signal_date", "analysis_source"]


def _recommendation(item: dict[str, Any], key: str) -> dict[str, Any] | None:
    rec = item.get(key)
    if rec is None:
        return None
    if not isinstance(rec, dict):
        raise _ItemError(f"{key} is not an object")
    action = rec.get("action")
    if action is not None and (not isinstance(action, str) or action.upper() not in AI_ACTIONS):
        raise _ItemError(f"unknown {key}.action {action!r}")
    confidence = _number(rec, "confidence", nonneg=True)
    if confidence is not None and confidence > 100:
        raise _ItemError(f"{key}.confidence above 100: {confidence}")
    return rec


def parse_ai_analysis(text: str, file: str) -> ParsedFile:
    """``kr_ai_analysis.json`` / ``history/kr_ai_analysis_{YYYYMMDD,YYYY-MM-DD}.json`` →
    ai_analyses rows and one ``scan_runs`` row (kind ``ai-analysis``) per file.

    The row's action/confidence/reason are Gemini's when it gave an action other than N/A,
    otherwise GPT's; ``model`` names which one (``gemini`` or ``gpt``). Both are kept in
    ``recommendations``.
    """
    data = _load_json(text, file)
    day = _file_day(data, "signal_date", file)
    generated = _timestamp(data.get("generated_at"))
    run_id = f"legacy-ai-{_compact(day)}"

    def parse(item: dict[str, Any]) -> dict[str, Any]:
        ticker = _item_ticker(item, "ticker", "stock_code")
        recs = {
            name: rec
            for name, key in (("gpt", "gpt_recommendation"), ("gemini", "gemini_recommendation"))
            if (rec := _recommendation(item, key)) is not None
        }
        primary = next(
            (
                (name, recs[name])
                for name in ("gemini", "gpt")
                if name in recs and str(recs[name].get("action", "N/A")).upper() != "N/A"
            ),
            None,
        )
        news = item.get("news") or []
        if not isinstance(news, list):
            raise _ItemError("news is not a list")
        fundamentals = item.get("fundamentals") or {}
        if not isinstance(fundamentals, dict):
            raise _ItemError("fundamentals is not an object")
        source = item.get("analysis_source")
        return {
            "ticker": ticker,
            "signal_date": _item_date(item, "signal_date", day),
            "analysis_source": source if isinstance(source, str) and source else SOURCE,
            "action": primary[1].get("action", "").upper() if primary else None,
            "confidence": _number(primary[1], "confidence") if primary else None,
            "reason": primary[1].get("reason") if primary else None,
            "model": primary[0] if primary else None,
            "recommendations": recs,
            "news": news,
            "fundamentals": fundamentals,
            "payload": item,
            "generated_at": generated,
            "_name": item.get("name") or "",
            "_market": item.get("market") or "",
        }

    rows, rejects = _parse_items(text, file, data["signals"], parse)
    frame, duplicates = _frame(rows, [*AI_COLUMNS, "_name", "_market"], AI_KEYS)
    analyses = frame[AI_COLUMNS].copy()
    analyses["signal_date"] = pd.Series(
        np.array(analyses["signal_date"].tolist(), dtype="datetime64[D]").astype("datetime64[s]"),
        index=analyses.index,
    )
    analyses["confidence"] = pd.to_numeric(analyses["confidence"], errors="coerce").astype(
        np.float64
    )
    analyses["generated_at"] = pd.Series(
        [generated] * len(analyses), dtype="datetime64[us, Asia/Seoul]"
    )
    stocks = _stocks_from_rows(
        frame["ticker"].to_numpy(dtype=object),
        frame["_name"].astype(str).to_numpy(dtype=object),
        frame["_market"].astype(str).to_numpy(dtype=object),
    )
    params = {
        "market_indices": data.get("market_indices"),
        "generated_at": data.get("generated_at"),
        "signal_date": str(day),
        "legacy_file": file,
    }
    if "api_status" in data:
        params["api_status"] = data["api_status"]
    runs = _scan_run(
        run_id, "ai-analysis", day, {"signals": len(data["signals"])}, params, generated
    )
    return ParsedFile(
        file, "ai_analyses", "ai-analysis", len(data["signals"]),
        [TableRows("scan_runs", runs, ["id"]), TableRows("ai_analyses", analyses, AI_KEYS)],
        stocks, "fill", "ai_analyses", rejects, duplicates,
    )  # fmt: skip


# --------------------------------------------------------------------------- the folder

Parser = Callable[[str, str], ParsedFile]
# Import order: the universe first, then what references it; later files win on shared keys.
PARSERS: list[tuple[str, Parser]] = [
    (r"korean_stocks_list\.csv", parse_stock_list),
    (r"ticker_to_yahoo_map\.csv", parse_yahoo_map),
    (r"daily_prices\.csv", parse_daily_prices),
    (r"all_institutional_trend_data\.csv", parse_flows),
    (r"signals_log\.csv", parse_signals_log),
    (r"jongga_v2_results_\d{8}\.json", parse_jongga),
    (r"jongga_v2_latest\.json", parse_jongga),
    (r"(history/)?kr_ai_analysis_(\d{8}|\d{4}-\d{2}-\d{2})\.json", parse_ai_analysis),
    (r"kr_ai_analysis\.json", parse_ai_analysis),
]


def data_folder(root: Path) -> Path:
    """``root`` itself, or ``root/data`` when given the monolith's project folder."""
    if (
        not any(_parser_for(p.name) for p in root.glob("*") if p.is_file())
        and (root / "data").is_dir()
    ):
        return root / "data"
    return root


def _parser_for(relative: str) -> Parser | None:
    return next((parser for pattern, parser in PARSERS if re.fullmatch(pattern, relative)), None)


def discover(root: Path) -> tuple[list[tuple[str, Parser]], list[str]]:
    """Files to import (relative names, in import order) and files that are not imported."""
    folder = data_folder(root)
    candidates = [p for p in folder.glob("*") if p.is_file()]
    if (folder / "history").is_dir():
        candidates += [p for p in (folder / "history").glob("*") if p.is_file()]
    found: list[tuple[int, str, str, Parser]] = []
    skipped: list[str] = []
    for path in candidates:
        relative = path.relative_to(folder).as_posix()
        index = next(
            (i for i, (pattern, _) in enumerate(PARSERS) if re.fullmatch(pattern, relative)), None
        )
        if index is None:
            skipped.append(relative)
        else:
            found.append((index, _sort_key(relative), relative, PARSERS[index][1]))
    found.sort(key=lambda entry: (entry[0], entry[1]))
    return [(name, parser) for _, _, name, parser in found], sorted(skipped)


def _sort_key(relative: str) -> str:
    """Dated files in date order whichever form (YYYY-MM-DD or YYYYMMDD) their name uses."""
    day = _date_in_name(Path(relative).name)
    return f"{_compact(day) if day is not None else ''}|{relative}"


def parse_path(folder: Path, relative: str, parser: Parser) -> ParsedFile:
    """Read and parse one file of ``folder`` (raises ``FileFormatError`` when it is unusable)."""
    return parser(read_text(folder / relative, relative), relative)
