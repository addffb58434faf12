"""Read the market as arrays: one set-based query, converted with numpy (no per-row Python).

``load_market_window`` returns the whole universe (or given tickers) over the last ``days``
trading dates up to ``end``, where the trading dates are the distinct dates in ``daily_prices``.
Rows come out of PostgreSQL through ``COPY (query) TO STDOUT`` as CSV and are parsed by pandas'
C reader; cells are placed with ``np.unique``/``np.searchsorted`` index arithmetic.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy import Connection, text

from krstock.domain.market import MarketWindow, SeriesWindow

ONE_DAY = timedelta(days=1)

# Stock flags exposed in MarketWindow.flags (key: stocks column).
FLAG_COLUMNS = {
    "etf": "is_etf",
    "etn": "is_etn",
    "spac": "is_spac",
    "reit": "is_reit",
    "preferred": "is_preferred",
}

# The last N distinct dates up to :end by a loose index scan on ix_daily_prices_date_ticker
# (one index probe per date instead of a DISTINCT over every row).
_TRADING_DAYS = text(
    """
    WITH RECURSIVE trading_days(date, n) AS (
        (SELECT date, 1 FROM daily_prices WHERE date <= :end ORDER BY date DESC LIMIT 1)
        UNION ALL
        SELECT (SELECT p.date FROM daily_prices p WHERE p.date < d.date
                ORDER BY p.date DESC LIMIT 1), d.n + 1
        FROM trading_days d
        WHERE d.n < :days AND d.date IS NOT NULL
    )
    SELECT date FROM trading_days WHERE date IS NOT NULL ORDER BY date
    """
)

# Prices FULL JOIN flows pivoted by investor (FILTER aggregates); shares and KRW kept apart.
_WINDOW = """
WITH flows AS (
    SELECT
        ticker,
        date,
        sum(net_volume) FILTER (WHERE investor = 'foreign') AS foreign_shares,
        sum(net_volume) FILTER (WHERE investor = 'institution') AS inst_shares,
        sum(net_value) FILTER (WHERE investor = 'foreign') AS foreign_krw,
        sum(net_value) FILTER (WHERE investor = 'institution') AS inst_krw
    FROM investor_flows
    WHERE date BETWEEN {flow_lo} AND {hi} {flow_tickers}
    GROUP BY ticker, date
), prices AS (
    SELECT ticker, date, open, high, low, close, volume, trading_value, halted
    FROM daily_prices
    WHERE date BETWEEN {lo} AND {hi} {price_tickers}
)
SELECT
    coalesce(p.ticker, f.ticker) AS ticker,
    coalesce(p.date, f.date) AS date,
    p.open, p.high, p.low, p.close, p.volume, p.trading_value,
    coalesce(p.halted, false) AS halted,
    f.foreign_shares, f.inst_shares, f.foreign_krw, f.inst_krw
FROM prices p
FULL JOIN flows f ON f.ticker = p.ticker AND f.date = p.date
"""

_VALUE_COLUMNS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trading_value",
    "foreign_shares",
    "inst_shares",
    "foreign_krw",
    "inst_krw",
)
_WINDOW_FIELDS = {
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "trading_value": "trading_value",
    "foreign_shares": "foreign_net_shares",
    "inst_shares": "inst_net_shares",
    "foreign_krw": "foreign_net_krw",
    "inst_krw": "inst_net_krw",
}


def _raw(conn: Connection) -> psycopg.Connection[Any]:
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("the reader needs a psycopg 3 connection (postgresql+psycopg://)")
    return driver


def _copy_out(conn: Connection, query: sql.Composable) -> bytes:
    """Run ``query`` as ``COPY ... TO STDOUT (FORMAT csv, HEADER)`` and return the bytes."""
    raw = _raw(conn)
    # A whole-universe window hashes ~1M rows: give it memory (no disk spill) and skip JIT,
    # whose compile time costs more than it saves here. SET LOCAL: this transaction only.
    raw.execute("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)")
    out = bytearray()
    with (
        raw.cursor() as cur,
        cur.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(query)) as copy,
    ):
        for chunk in copy:
            out += chunk
    return bytes(out)


def trading_days(conn: Connection, end: date, days: int) -> np.ndarray:
    """The last ``days`` distinct dates of ``daily_prices`` up to ``end`` (datetime64[D])."""
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    found = conn.execute(_TRADING_DAYS, {"end": end, "days": days}).scalars().all()
    return np.array(found, dtype="datetime64[D]")


def _ticker_filter(tickers: Sequence[str] | None) -> sql.Composable:
    if tickers is None:
        return sql.SQL("")
    return sql.SQL("AND ticker = ANY({})").format(sql.Literal(list(tickers)))


def _stock_attributes(
    conn: Connection, tickers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    flag_sql = ", ".join(FLAG_COLUMNS.values())
    rows = conn.execute(
        text(f"SELECT ticker, name, market, {flag_sql} FROM stocks WHERE ticker = ANY(:t)"),
        {"t": [str(t) for t in tickers]},
    ).all()
    names = np.full(len(tickers), "", dtype=object)
    markets = np.full(len(tickers), "UNKNOWN", dtype=object)
    flags = {key: np.zeros(len(tickers), dtype=bool) for key in FLAG_COLUMNS}
    if rows:
        # One row per listed stock (a few thousand): place them by sorted index, not a dict walk.
        found = np.array([r[0] for r in rows])
        at = np.searchsorted(tickers, found)
        names[at] = [r[1] for r in rows]
        markets[at] = [r[2] for r in rows]
        for i, key in enumerate(FLAG_COLUMNS):
            flags[key][at] = [bool(r[3 + i]) for r in rows]
    return names, markets, flags


def _empty_window(tickers: np.ndarray, dates: np.ndarray) -> dict[str, np.ndarray]:
    shape = (len(tickers), len(dates))
    arrays = {field: np.full(shape, np.nan) for field in _WINDOW_FIELDS.values()}
    arrays["halted"] = np.zeros(shape, dtype=bool)
    return arrays


def load_market_window(
    conn: Connection,
    end: date,
    days: int,
    tickers: Sequence[str] | None = None,
    *,
    flow_days: int | None = None,
) -> MarketWindow:
    """The last ``days`` trading dates up to ``end`` for every ticker (or ``tickers``).

    Tickers are sorted; requested tickers without any row are kept as all-NaN rows. A cell with
    no row is NaN (flows too: never 0); ``halted`` is False there. ``flow_days`` reads investor
    flows only for the last that many dates (the engines' longest flow window is 60 days; flows
    are most of the rows), leaving earlier flow cells NaN; None reads them for every date.
    """
    if flow_days is not None and flow_days < 0:
        raise ValueError(f"flow_days must be >= 0, got {flow_days}")
    dates = trading_days(conn, end, days)
    if tickers is not None:
        bad = [t for t in tickers if not isinstance(t, str) or len(t) != 6]
        if bad:
            raise ValueError(f"tickers must be 6-character KRX codes, got {bad[:5]}")
    if len(dates) == 0:
        frame = pd.DataFrame(columns=["ticker", "date", *_VALUE_COLUMNS, "halted"])
    else:
        flow_from = 0 if flow_days is None else max(0, len(dates) - flow_days)
        # With flow_days=0 the range is empty (lo > hi): no flow row is read.
        flow_lo = dates[flow_from].item() if flow_from < len(dates) else dates[-1].item() + ONE_DAY
        query = sql.SQL(_WINDOW).format(
            lo=sql.Literal(dates[0].item()),
            flow_lo=sql.Literal(flow_lo),
            hi=sql.Literal(dates[-1].item()),
            flow_tickers=_ticker_filter(tickers),
            price_tickers=_ticker_filter(tickers),
        )
        dtypes: dict[str, Any] = {"ticker": str, "halted": str}
        dtypes.update({c: "float64" for c in _VALUE_COLUMNS})
        frame = pd.read_csv(
            io.BytesIO(_copy_out(conn, query)),
            dtype=dtypes,
            keep_default_na=False,
            na_values={c: [""] for c in _VALUE_COLUMNS},
        )

    row_tickers = frame["ticker"].to_numpy(dtype=str)
    universe = np.unique(
        np.concatenate([row_tickers, np.asarray(list(tickers or []), dtype=str)])
    ).astype(str)
    arrays = _empty_window(universe, dates)
    if len(frame):
        row_dates = frame["date"].to_numpy(dtype="datetime64[D]")
        col = np.searchsorted(dates, row_dates)
        col_clipped = np.minimum(col, len(dates) - 1)
        on_a_trading_day = dates[col_clipped] == row_dates
        row = np.searchsorted(universe, row_tickers)
        r, c = row[on_a_trading_day], col_clipped[on_a_trading_day]
        for source, field in _WINDOW_FIELDS.items():
            arrays[field][r, c] = frame[source].to_numpy(dtype=np.float64)[on_a_trading_day]
        halted = frame["halted"].to_numpy(dtype=str) == "t"
        arrays["halted"][r, c] = halted[on_a_trading_day]

    names, markets, flags = _stock_attributes(conn, universe)
    return MarketWindow(
        tickers=universe,
        dates=dates,
        names=names,
        markets=markets,
        flags=flags,
        **arrays,
    )


_SERIES = text(
    """
    SELECT code, date, close, high, low, volume FROM (
        SELECT code, date, close, high, low, volume,
               row_number() OVER (PARTITION BY code ORDER BY date DESC) AS age
        FROM index_prices
        WHERE code = ANY(:codes) AND date <= :end
    ) recent
    WHERE age <= :days
    ORDER BY code, date
    """
)


def _floats(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def load_series(
    conn: Connection, codes: Sequence[str], end: date, days: int
) -> dict[str, SeriesWindow]:
    """The last ``days`` rows up to ``end`` of each index/ETF series in ``index_prices``.

    Each code keeps its own dates; a code without rows maps to an empty series.
    """
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    rows = conn.execute(_SERIES, {"codes": list(codes), "end": end, "days": days}).all()
    out: dict[str, SeriesWindow] = {}
    for code in codes:
        mine = [r for r in rows if r[0] == code]
        out[code] = SeriesWindow(
            code=code,
            dates=np.array([r[1] for r in mine], dtype="datetime64[D]"),
            close=_floats([r[2] for r in mine]),
            high=_floats([r[3] for r in mine]),
            low=_floats([r[4] for r in mine]),
            volume=_floats([r[5] for r in mine]),
        )
    return out


def load_fx(conn: Connection, pair: str, end: date, days: int) -> SeriesWindow:
    """The last ``days`` closes of an FX pair (e.g. USDKRW, KRW per USD) up to ``end``."""
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    rows = conn.execute(
        text(
            "SELECT date, rate FROM (SELECT date, rate FROM fx_rates "
            "WHERE pair = :pair AND date <= :end ORDER BY date DESC LIMIT :days) recent "
            "ORDER BY date"
        ),
        {"pair": pair, "end": end, "days": days},
    ).all()
    return SeriesWindow(
        code=pair,
        dates=np.array([r[0] for r in rows], dtype="datetime64[D]"),
        close=_floats([r[1] for r in rows]),
    )
