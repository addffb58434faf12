"""Market data sources by name: ``get_source("sample" | "krx" | "yahoo" | "krx-csv")``.

Each source module is imported (a plain import inside its builder) only when asked for, so a
missing optional dependency (pykrx, yfinance) only matters to that source's users.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from krstock.marketdata.base import MarketDataSource


def _krx(**options: Any) -> MarketDataSource:
    from krstock.marketdata.krx import KrxSource

    return KrxSource(**options)


def _yahoo(**options: Any) -> MarketDataSource:
    from krstock.marketdata.yahoo import YahooSource

    return YahooSource(**options)


def _krx_csv(**options: Any) -> MarketDataSource:
    from krstock.marketdata.krx_csv import KrxCsvSource

    return KrxCsvSource(**options)


def _sample(**options: Any) -> MarketDataSource:
    from krstock.marketdata.sample import SampleMarket

    return SampleMarket(**options)


# name -> builder. Folder-based sources take ``folder`` (the CLI passes ``--path``).
SOURCES: dict[str, Callable[..., MarketDataSource]] = {
    "sample": _sample,
    "krx": _krx,
    "yahoo": _yahoo,
    "krx-csv": _krx_csv,
}


# What each source can deliver (names of MarketDataSource methods), for sources whose class does
# not say it with a ``provides`` attribute. Collection skips the rest instead of failing on it.
PROVIDES: dict[str, frozenset[str]] = {
    "krx-csv": frozenset({"stocks", "daily_prices"}),
}


def provided_by(source: MarketDataSource) -> frozenset[str] | None:
    """The methods ``source`` provides, or None when it provides them all."""
    own: frozenset[str] | None = getattr(source, "provides", None)
    return own if own is not None else PROVIDES.get(source.name)


def source_names() -> list[str]:
    return list(SOURCES)


@functools.lru_cache(maxsize=2)
def _sample_market(**options: Any) -> MarketDataSource:
    # A SampleMarket is immutable once generated (every method returns new arrays/frames), so
    # one instance per option set serves a whole process: a daily pipeline asks for the source
    # once per day and the generation costs about a second.
    return _sample(**options)


def get_source(name: str, **options: Any) -> MarketDataSource:
    """Build the source called ``name`` with ``options`` (its constructor's keyword arguments).

    ``sample`` markets are cached per option set (they are deterministic and read-only)."""
    try:
        build = SOURCES[name]
    except KeyError:
        raise ValueError(
            f"unknown market data source {name!r}; valid names: {', '.join(SOURCES)}"
        ) from None
    if name == "sample":
        try:
            return _sample_market(**options)
        except TypeError as exc:  # unhashable or unknown options: build it uncached
            if "unhashable" not in str(exc):
                raise
    return build(**options)
