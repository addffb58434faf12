"""Sources by name: the registry builds them lazily and names the valid ones on a typo."""

from __future__ import annotations

import sys

import pytest

from krstock.marketdata.base import MarketDataSource
from krstock.marketdata.krx import KrxSource
from krstock.marketdata.registry import SOURCES, get_source, source_names
from krstock.marketdata.sample import SampleMarket
from krstock.marketdata.yahoo import YahooSource


def test_sources_registry_builds_sources_by_name() -> None:
    sample = get_source("sample", n_tickers=80, seed=1)
    assert isinstance(sample, SampleMarket) and sample.tickers.size == 80
    assert isinstance(sample, MarketDataSource)
    assert get_source("sample", n_tickers=80, seed=1) is sample  # deterministic: cached
    assert get_source("sample", n_tickers=80, seed=2) is not sample
    with pytest.raises(TypeError):
        get_source("sample", colour="red")
    assert isinstance(get_source("krx"), KrxSource)
    assert isinstance(get_source("yahoo"), YahooSource)
    # Building the network sources imports neither pykrx nor yfinance.
    assert "pykrx" not in sys.modules and "yfinance" not in sys.modules
    assert source_names() == ["sample", "krx", "yahoo", "krx-csv"] == list(SOURCES)


def test_sources_registry_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid names: sample, krx, yahoo, krx-csv"):
        get_source("naver")


def test_sources_registry_folder_sources_take_a_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = get_source("krx-csv", folder=tmp_path)
    assert source.name == "krx-csv"
