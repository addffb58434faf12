"""Market data sources by name: ``get_source("sample" | "krx" | "yahoo" | "krx-csv" | "legacy")``.

Each source module is imported only when asked for, so a missing optional dependency (pykrx,
yfinance) or a source another part of the package has not built yet only matters to its users.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from krstock.marketdata.base import MarketDataSource, SourceError

# name -> (module, class). Folder-based sources take ``folder`` (the CLI passes ``--path``).
SOURCES: dict[str, tuple[str, str]] = {
    "sample": ("krstock.marketdata.sample", "SampleMarket"),
    "krx": ("krstock.marketdata.krx", "KrxSource"),
    "yahoo": ("krstock.marketdata.yahoo", "YahooSource"),
    "krx-csv": ("krstock.marketdata.krx_csv", "KrxCsvSource"),
    "legacy": ("krstock.marketdata.legacy", "LegacySource"),
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
    from krstock.marketdata.sample import SampleMarket

    return SampleMarket(**options)


def get_source(name: str, **options: Any) -> MarketDataSource:
    """Build the source called ``name`` with ``options`` (its constructor's keyword arguments).

    ``sample`` markets are cached per option set (they are deterministic and read-only)."""
    try:
        module_name, class_name = SOURCES[name]
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
    module = importlib.import_module(module_name)
    source_class = getattr(module, class_name, None)
    if source_class is None:
        raise SourceError(f"the {name} source is not available ({module_name}.{class_name})")
    source: MarketDataSource = source_class(**options)
    return source
