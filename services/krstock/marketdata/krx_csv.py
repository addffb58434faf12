"""The ``krx-csv`` source: a folder of pykrx-layout daily OHLCV files, one per ticker.

Each file is ``<ticker>.csv`` as written by pykrx's ``get_market_ohlcv``: header
``날짜,시가,고가,저가,종가,거래량,등락률`` (date, open, high, low, close, volume, change %),
optionally with ``거래대금`` (trading value), UTF-8 with a BOM, unadjusted KRW.

Decisions (documented in docs/migration.md too):
- ``change`` = close − the previous row's close of the same ticker (None on its first row).
- ``change_pct`` comes from the file; when empty it is computed as change ÷ previous close × 100.
- ``trading_value``: the file's ``거래대금`` when present, otherwise **an estimate: close × volume**
  (the real value is the sum over trades, so the estimate is off by the intraday price spread).
- Halted days (open, high, low and volume all 0, the close carried over) are kept with the file's
  values (zeros included) and ``halted`` True; engines must read the flag, not the zeros.
- The stock list is inferred from the file names: market 'UNKNOWN', name '', listing 'UNKNOWN',
  ``is_preferred`` from the code (see ``legacy_io.is_preferred_code``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from krstock.marketdata.base import PRICE_COLUMNS, SourceError
from krstock.marketdata.legacy_io import (
    CsvTable,
    FileFormatError,
    Reject,
    RowChecks,
    concat_tables,
    normalize_ticker,
    read_header,
    read_text,
    stock_frame,
    tokenize_csv,
    tokenize_unquoted,
)

SOURCE = "krx-csv"
# Columns finish_prices derives when a file has no value (and leaves empty when it cannot): an
# empty one is "not given", so a load keeps the stored value there (db.bulk.UpdateRules).
DERIVED_PRICE_COLUMNS = frozenset({"change", "change_pct", "trading_value"})
PYKRX_COLUMNS = {
    "날짜": "date",
    "시가": "open",
    "고가": "high",
    "저가": "low",
    "종가": "close",
    "거래량": "volume",
    "등락률": "change_pct",
}
VALUE_COLUMN = "거래대금"
NUMERIC_COLUMNS = frozenset(["시가", "고가", "저가", "종가", "거래량", "등락률", VALUE_COLUMN])
PYKRX_LAYOUTS = {
    "pykrx": list(PYKRX_COLUMNS),
    "pykrx+value": [*PYKRX_COLUMNS, VALUE_COLUMN],
}


def finish_prices(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, int]:
    """Turn parsed rows into PRICE_COLUMNS: last row per (ticker, date) wins, rows sorted,
    change / change_pct / trading_value filled, halted days flagged.

    ``frame`` has ticker, date (datetime64), open, high, low, close, volume and optionally
    change, change_pct, trading_value as floats (NaN = not given). Returns the frame and the
    number of duplicate keys dropped.
    """
    frame, same_ticker, duplicates = _key_ordered(frame)
    close = frame["close"].to_numpy(dtype=np.float64)
    prev_close = np.where(same_ticker, np.r_[np.nan, close[:-1]], np.nan)
    computed_change = close - prev_close
    with np.errstate(divide="ignore", invalid="ignore"):
        computed_pct = np.where(prev_close > 0, computed_change / prev_close * 100.0, np.nan)

    def given(name: str) -> np.ndarray:
        if name in frame:
            return frame[name].to_numpy(dtype=np.float64)
        return np.full(len(frame), np.nan)

    change = np.where(np.isfinite(given("change")), given("change"), computed_change)
    change_pct = np.where(np.isfinite(given("change_pct")), given("change_pct"), computed_pct)
    volume = frame["volume"].to_numpy(dtype=np.float64)
    value = np.where(np.isfinite(given("trading_value")), given("trading_value"), close * volume)
    halted = (
        (frame["open"].to_numpy() == 0)
        & (frame["high"].to_numpy() == 0)
        & (frame["low"].to_numpy() == 0)
        & (volume == 0)
    )
    out = pd.DataFrame(
        {
            "ticker": frame["ticker"].astype(object).to_numpy(),
            "date": frame["date"].to_numpy(dtype="datetime64[D]"),
            "open": frame["open"].to_numpy(dtype=np.int64),
            "high": frame["high"].to_numpy(dtype=np.int64),
            "low": frame["low"].to_numpy(dtype=np.int64),
            "close": close.astype(np.int64),
            "volume": volume.astype(np.int64),
            "trading_value": pd.Series(np.round(value)).astype("Int64"),
            "change": pd.Series(np.round(change)).astype("Int64"),
            "change_pct": change_pct,
            "halted": halted,
            "source": source,
        }
    )
    return out[PRICE_COLUMNS], duplicates


def _key_ordered(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, int]:
    """``frame`` in (ticker, date) order with the last row (in input order) of each key; also
    whether each row has the previous row's ticker, and the number of rows dropped. Files come
    sorted, so the sort is usually skipped, and on sorted rows a key's rows are neighbours."""
    tickers = frame["ticker"].to_numpy(dtype=object)
    days = frame["date"].to_numpy()
    same_ticker = tickers[1:] == tickers[:-1]
    if not ((tickers[1:] > tickers[:-1]) | (same_ticker & (days[1:] >= days[:-1]))).all():
        frame = frame.sort_values(["ticker", "date"], kind="stable", ignore_index=True)
        tickers = frame["ticker"].to_numpy(dtype=object)
        days = frame["date"].to_numpy()
        same_ticker = tickers[1:] == tickers[:-1]
    if not len(frame):
        return frame.reset_index(drop=True), np.zeros(0, dtype=bool), 0
    # Row i is superseded when row i + 1 has its key (a stable order keeps input order).
    superseded = np.r_[same_ticker & (days[1:] == days[:-1]), False]
    duplicates = int(superseded.sum())
    if duplicates:
        frame = frame.loc[~superseded].reset_index(drop=True)
        tickers = frame["ticker"].to_numpy(dtype=object)
        same_ticker = tickers[1:] == tickers[:-1]
    else:
        frame = frame.reset_index(drop=True)
    return frame, np.r_[False, same_ticker], duplicates


@dataclass
class FileReport:
    """What one file of the folder gave: rows read, rows rejected, duplicates dropped."""

    read: int = 0
    rejected: int = 0
    duplicates: int = 0
    error: str | None = None


@dataclass
class KrxFolder:
    """Everything read from a folder: prices, inferred stocks, rejects and per-file reports."""

    prices: pd.DataFrame
    stocks: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    files: dict[str, FileReport] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return sum(report.read for report in self.files.values())

    @property
    def duplicates(self) -> int:
        return sum(report.duplicates for report in self.files.values())

    @property
    def failures(self) -> dict[str, str]:
        return {name: r.error for name, r in self.files.items() if r.error is not None}

    @classmethod
    def merge(cls, parts: list[KrxFolder]) -> KrxFolder:
        """One result from the parts of a folder (``folder_chunks``; they share no ticker)."""
        if not parts:
            return cls(_empty_prices(), stock_frame([], listing_status="UNKNOWN", source=SOURCE))
        if len(parts) == 1:
            return parts[0]
        # Parts without rows (every file unreadable) would turn typed columns into objects.
        with_rows = [p for p in parts if not p.prices.empty] or parts[:1]
        return cls(
            prices=pd.concat([p.prices for p in with_rows], ignore_index=True),
            stocks=pd.concat([p.stocks for p in with_rows], ignore_index=True),
            rejects=[r for p in parts for r in p.rejects],
            files={name: report for p in parts for name, report in p.files.items()},
        )


def _parse_tables(tables: list[CsvTable], folder: str) -> tuple[pd.DataFrame, list[Reject]]:
    """All files' rows checked at once; returns float rows (with ``_file``) and the rejects."""
    table = concat_tables(tables, folder)
    checks = RowChecks(table)
    parsed: dict[str, np.ndarray] = {"date": checks.date("날짜")}
    for korean, name in PYKRX_COLUMNS.items():
        if name in ("date", "change_pct"):
            continue
        parsed[name] = checks.number(korean, nonneg=True, whole=True)
    parsed["change_pct"] = checks.number("등락률", required=False)
    parsed["trading_value"] = checks.number(VALUE_COLUMN, required=False, nonneg=True)
    ok = checks.ok
    assert table.row_files is not None
    frame = pd.DataFrame({name: values[ok] for name, values in parsed.items()})
    files = table.row_files[ok]
    names, index = np.unique(files.astype(str), return_inverse=True)
    tickers = np.array([normalize_ticker(Path(name).stem) for name in names], dtype=object)
    frame.insert(0, "ticker", tickers[index])
    frame["_file"] = files
    return frame, checks.rejects()


def folder_files(folder: Path) -> list[Path]:
    """The ``*.csv`` files of ``folder``, in ticker order (files whose names normalize to the same
    ticker next to each other); raises ``SourceError`` when there is nothing to read."""
    if not folder.is_dir():
        raise SourceError(f"krx-csv: {folder} is not a folder")
    paths = [p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file()]
    if not paths:
        raise SourceError(f"krx-csv: no *.csv files in {folder}")
    return sorted(paths, key=lambda p: (normalize_ticker(p.stem) or "", p.name))


def read_files(paths: list[Path], label: str) -> KrxFolder:
    """Read ``paths`` (files of one folder named ``label``). A file that cannot be read at all
    is reported in ``files[name].error`` and contributes no rows; bad rows are rejects."""
    tables: list[CsvTable] = []
    files: dict[str, FileReport] = {}
    # Files without quotes are tokenized together, grouped by their exact header.
    unquoted: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
    for path in paths:
        file = path.name
        try:
            if normalize_ticker(path.stem) is None:
                raise FileFormatError(
                    f"{file}: the file name is not a KRX code (expected e.g. 005930.csv)"
                )
            text = read_text(path, file)
            _, header, physical = read_header(text, file, PYKRX_LAYOUTS)
        except FileFormatError as exc:
            files[file] = FileReport(error=str(exc))
            continue
        files[file] = FileReport(read=sum(1 for line in physical[1:] if line.strip()))
        if '"' in text:  # rare: quoted fields need the csv module
            tables.append(tokenize_csv(text, file, PYKRX_LAYOUTS)[1])
        else:
            unquoted.setdefault(tuple(header), []).append((file, physical))
    for header_key, parts in unquoted.items():
        table = tokenize_unquoted(parts, list(header_key), label, NUMERIC_COLUMNS)
        if table.row_files is None:
            table.row_files = np.full(len(table), parts[0][0], dtype=object)
        tables.append(table)
    if not tables:
        return KrxFolder(
            prices=_empty_prices(),
            stocks=stock_frame([], listing_status="UNKNOWN", source=SOURCE),
            files=files,
        )
    for table in tables:
        if VALUE_COLUMN not in table.columns:
            table.columns[VALUE_COLUMN] = np.full(len(table), "", dtype=object)
            table.header = [*table.header, VALUE_COLUMN]
    raw, rejects = _parse_tables(tables, label)
    rejects = [r for t in tables for r in t.rejects] + rejects
    for reject in rejects:
        files[reject.file].rejected += 1
    dup_mask = raw.duplicated(["ticker", "date"], keep="last")
    for name, count in raw.loc[dup_mask, "_file"].value_counts().items():
        files[str(name)].duplicates = int(count)
    prices, _ = finish_prices(raw.drop(columns="_file"), SOURCE)
    tickers = sorted(prices["ticker"].drop_duplicates().tolist())  # not set(): no per-row boxing
    stocks = stock_frame(tickers, listing_status="UNKNOWN", source=SOURCE)
    return KrxFolder(prices=prices, stocks=stocks, rejects=rejects, files=files)


def _empty_prices() -> pd.DataFrame:
    return finish_prices(
        pd.DataFrame(
            {
                "ticker": pd.Series([], dtype=object),
                "date": pd.Series([], dtype="datetime64[s]"),
                **{c: pd.Series([], dtype=np.float64) for c in ("open", "high", "low", "close")},
                "volume": pd.Series([], dtype=np.float64),
            }
        ),
        SOURCE,
    )[0]


def folder_chunks(folder: Path, files_per_chunk: int = 100) -> list[list[Path]]:
    """The ``*.csv`` files of ``folder`` in parts of about ``files_per_chunk`` files that share
    no (ticker, date) key: all files of one ticker are in the same part. Raises
    ``SourceError`` when there is nothing to read."""
    paths = folder_files(folder)
    chunks: list[list[Path]] = [[]]
    for path, previous in zip(paths, [None, *paths[:-1]], strict=True):
        same_ticker = previous is not None and normalize_ticker(path.stem) == normalize_ticker(
            previous.stem
        )
        if len(chunks[-1]) >= files_per_chunk and not same_ticker:
            chunks.append([])
        chunks[-1].append(path)
    return chunks


def read_folder(folder: Path) -> KrxFolder:
    """Read every ``*.csv`` of ``folder``. A file that cannot be read at all is reported in
    ``files[name].error`` and contributes no rows; bad rows are rejects."""
    data = read_files(folder_files(folder), folder.name)
    if all(r.error for r in data.files.values()):
        raise SourceError(
            f"krx-csv: no readable file in {folder}: "
            + "; ".join(r.error or "" for r in data.files.values())
        )
    return data


class KrxCsvSource:
    """``MarketDataSource`` over a pykrx CSV folder. Only stocks and daily prices exist there;
    the other methods raise ``SourceError`` saying so."""

    name = SOURCE

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._data: KrxFolder | None = None

    def load(self) -> KrxFolder:
        """Read the folder once (cached)."""
        if self._data is None:
            self._data = read_folder(self.folder)
        return self._data

    def stocks(self) -> pd.DataFrame:
        return self.load().stocks.drop(columns="yahoo_symbol")

    def daily_prices(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        prices = self.load().prices
        days = prices["date"].to_numpy(dtype="datetime64[D]")
        mask = (days >= np.datetime64(start, "D")) & (days <= np.datetime64(end, "D"))
        if tickers is not None:
            mask &= prices["ticker"].isin(tickers).to_numpy()
        out = prices.loc[mask].reset_index(drop=True)
        if out.empty:
            wanted = "all tickers" if tickers is None else ", ".join(tickers[:5])
            raise SourceError(
                f"krx-csv: no rows for {wanted} in [{start}, {end}] under {self.folder}"
            )
        return out

    def _cannot(self, what: str) -> SourceError:
        return SourceError(
            f"krx-csv: {self.folder} holds per-ticker OHLCV only; it has no {what} "
            "(use the krx or sample source for that)"
        )

    def investor_flows(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        raise self._cannot("investor flows")

    def index_prices(self, start: date, end: date) -> pd.DataFrame:
        raise self._cannot("index prices")

    def fx_rates(self, start: date, end: date) -> pd.DataFrame:
        raise self._cannot("FX rates")

    def news(self, day: date, tickers: list[str]) -> pd.DataFrame:
        raise self._cannot("news")
