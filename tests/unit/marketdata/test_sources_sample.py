"""The synthetic market: determinism, KRX price rules, halts, flows, and planted answers that
really are in the generated data (checked from the frames, not from the generator's own numbers)."""

from __future__ import annotations

import itertools
import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from helpers.sample_oracle import closing_bet_grade, expected, supply_demand_index

from krstock.marketdata.base import (
    FLOW_COLUMNS,
    FX_COLUMNS,
    INDEX_COLUMNS,
    KOSPI200,
    NEWS_COLUMNS,
    PRICE_COLUMNS,
    SECTOR_ETFS,
    STOCK_COLUMNS,
    MarketDataSource,
    SourceError,
)
from krstock.marketdata.sample import (
    PlantedRecord,
    SampleMarket,
    krx_trading_days,
    random_walk_market,
)
from krstock.marketdata.ticks import limit_down, limit_up, tick_size

N_TICKERS = 300


@pytest.fixture(scope="module")
def market() -> SampleMarket:
    return SampleMarket(seed=7, n_tickers=N_TICKERS)


@pytest.fixture(scope="module")
def prices(market: SampleMarket) -> pd.DataFrame:
    frame = market.daily_prices(market.start, market.end)
    return frame.sort_values(["ticker", "date"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def flows(market: SampleMarket) -> pd.DataFrame:
    return market.investor_flows(market.start, market.end)


def _one(prices: pd.DataFrame, ticker: str) -> pd.DataFrame:
    return prices[prices["ticker"] == ticker].reset_index(drop=True)


def _day_index(frame: pd.DataFrame, day: date) -> int:
    return int(np.flatnonzero(frame["date"].to_numpy() == day)[0])


def _records(market: SampleMarket, kind: str) -> list[PlantedRecord]:
    return [r for r in market.planted_records if r.kind == kind]


# ------------------------------------------------------------------ interface and determinism


def test_sources_sample_implements_the_interface_with_exact_columns(market: SampleMarket) -> None:
    assert isinstance(market, MarketDataSource)
    start, end = date(2026, 11, 2), date(2026, 11, 20)
    assert list(market.stocks().columns) == STOCK_COLUMNS
    assert list(market.daily_prices(start, end).columns) == PRICE_COLUMNS
    assert list(market.investor_flows(start, end).columns) == FLOW_COLUMNS
    assert list(market.index_prices(start, end).columns) == INDEX_COLUMNS
    assert list(market.fx_rates(start, end).columns) == FX_COLUMNS
    assert list(market.news(end, list(market.tickers)).columns) == NEWS_COLUMNS
    for frame in (market.stocks(), market.daily_prices(start, end), market.fx_rates(start, end)):
        assert set(frame["source"]) == {"sample"}


def test_sources_sample_same_seed_gives_identical_frames() -> None:
    one, two = SampleMarket(seed=11, n_tickers=120), SampleMarket(seed=11, n_tickers=120)
    start, end = date(2025, 1, 1), date(2026, 11, 20)
    pd.testing.assert_frame_equal(one.daily_prices(start, end), two.daily_prices(start, end))
    pd.testing.assert_frame_equal(one.investor_flows(start, end), two.investor_flows(start, end))
    pd.testing.assert_frame_equal(one.stocks(), two.stocks())
    pd.testing.assert_frame_equal(one.planted, two.planted)
    other = SampleMarket(seed=12, n_tickers=120)
    assert not one.daily_prices(start, end)["close"].equals(other.daily_prices(start, end)["close"])


def test_sources_sample_trading_days_skip_weekends_and_krx_holidays() -> None:
    days = krx_trading_days(date(2025, 9, 29), date(2025, 10, 12))
    assert [str(d) for d in days] == [
        "2025-09-29",
        "2025-09-30",
        "2025-10-01",
        "2025-10-02",
        "2025-10-10",
    ]
    assert np.datetime64("2024-12-31") not in krx_trading_days(date(2024, 12, 30), date(2025, 1, 3))


def test_sources_sample_out_of_range_and_unknown_tickers_raise(market: SampleMarket) -> None:
    with pytest.raises(SourceError):
        market.daily_prices(date(2020, 1, 1), date(2020, 2, 1))
    with pytest.raises(SourceError, match="unknown tickers"):
        market.daily_prices(date(2026, 1, 1), date(2026, 2, 1), ["999999"])
    with pytest.raises(ValueError):
        SampleMarket(n_tickers=10)
    with pytest.raises(ValueError, match="fewer than 2 KRX trading days"):
        SampleMarket(n_tickers=60, start=date(2026, 11, 21), end=date(2026, 11, 22))
    tiny = SampleMarket(n_tickers=60, start=date(2026, 11, 16), end=date(2026, 11, 17))
    assert tiny.dates.size == 2 and tiny.planted.empty  # too short for any pattern


# ------------------------------------------------------------------ universe


def test_sources_sample_universe_has_both_markets_and_the_excluded_kinds(
    market: SampleMarket,
) -> None:
    stocks = market.stocks()
    assert len(stocks) == N_TICKERS
    assert stocks["ticker"].str.fullmatch(r"\d{6}").all() and stocks["ticker"].is_unique
    assert set(stocks["market"]) == {"KOSPI", "KOSDAQ"}
    assert stocks["name"].is_unique
    spac, reit, pref, etf = (stocks[f"is_{k}"] for k in ("spac", "reit", "preferred", "etf"))
    assert spac.sum() >= 2 and stocks.loc[spac, "name"].str.contains("스팩").all()
    assert reit.sum() >= 2 and stocks.loc[reit, "name"].str.contains("리츠").all()
    assert pref.sum() >= 3 and stocks.loc[pref, "name"].str.endswith("우").all()
    # A preferred share is its common share's code + 5, with the same name + 우.
    by_code = stocks.set_index("ticker")["name"]
    for code, name in stocks.loc[pref, ["ticker", "name"]].itertuples(index=False):
        assert by_code[f"{int(code) - 5:06d}"] + "우" == name
    assert {KOSPI200, *SECTOR_ETFS} <= set(stocks.loc[etf, "ticker"])
    plain = ~(spac | reit | pref | etf)
    assert not stocks.loc[plain, "name"].str.contains("스팩|리츠|ETF|ETN").any()
    assert not stocks.loc[plain, "name"].str.endswith("우").any()


# ------------------------------------------------------------------ KRX price rules


def test_sources_sample_prices_sit_on_krx_ticks(prices: pd.DataFrame) -> None:
    trading = prices[~prices["halted"]]
    for column in ("open", "high", "low", "close"):
        values = trading[column].to_numpy(dtype=float)
        assert (values % tick_size(values) == 0).all(), column
    assert tick_size(
        np.array([1_999, 2_000, 4_995, 5_000, 19_990, 20_000]).astype(float)
    ).tolist() == [1, 5, 5, 10, 10, 50]
    assert tick_size(np.array([49_950, 50_000, 199_900, 200_000, 499_500, 500_000.0])).tolist() == [
        50,
        100,
        100,
        500,
        500,
        1_000,
    ]


def test_sources_sample_daily_moves_stay_inside_the_30_percent_limit(prices: pd.DataFrame) -> None:
    prev = prices.groupby("ticker")["close"].shift(1)
    same = prev.notna()
    move = prices.loc[same, "close"] / prev[same] - 1
    assert move.abs().max() <= 0.30 + 1e-12
    assert move.abs().max() > 0.10  # fat tails exist, the limit is not a cap at a few percent
    trading = same & ~prices["halted"]
    assert (prices.loc[trading, "high"] <= prev[trading] * 1.3 + 1e-9).all()
    assert (prices.loc[trading, "low"] >= prev[trading] * 0.7 - 1e-9).all()
    # change and change_pct agree with the closes
    assert (
        prices.loc[same, "change"].astype(float) == prices.loc[same, "close"] - prev[same]
    ).all()


def test_sources_sample_some_names_close_at_the_daily_limit(prices: pd.DataFrame) -> None:
    prev = prices.groupby("ticker")["close"].shift(1)
    at_up = prices["close"] == limit_up(prev.to_numpy(dtype=float))
    at_down = prices["close"] == limit_down(prev.to_numpy(dtype=float))
    assert at_up.sum() > 80 and at_down.sum() > 10  # theme-stock days, both ways
    move = prices.loc[at_up, "close"] / prev[at_up] - 1
    assert move.between(0.29, 0.30 + 1e-9).all() and (move >= 0.299).mean() > 0.5
    # heavy volume on those days
    typical = prices.groupby("ticker")["volume"].transform("median")
    assert (prices.loc[at_up, "volume"] > typical[at_up]).mean() > 0.9


def test_sources_sample_candles_are_well_formed_and_nothing_is_negative(
    prices: pd.DataFrame,
) -> None:
    trading = prices[~prices["halted"]]
    assert (trading["high"] >= trading[["open", "close"]].max(axis=1)).all()
    assert (trading["low"] <= trading[["open", "close"]].min(axis=1)).all()
    assert (trading["low"] > 0).all() and (trading["volume"] > 0).all()
    assert (prices[["open", "high", "low", "close", "volume", "trading_value"]] >= 0).all().all()
    # trading value ≈ close × volume (within the day's range)
    ratio = trading["trading_value"] / (trading["close"] * trading["volume"])
    assert ratio.between(0.6, 1.5).all()
    assert trading["close"].median() > 1_000 and (trading["close"] > 500_000).any()


def test_sources_sample_halts_exist_and_carry_the_close(prices: pd.DataFrame) -> None:
    halted = prices[prices["halted"]]
    assert len(halted) > 0
    assert (halted[["open", "high", "low", "volume", "trading_value"]] == 0).all().all()
    prev = prices.groupby("ticker")["close"].shift(1)
    assert (halted["close"] == prev[halted.index]).all()
    assert (halted["change"] == 0).all()


# ------------------------------------------------------------------ flows and series


def test_sources_sample_flows_are_correlated_with_returns(
    prices: pd.DataFrame, flows: pd.DataFrame
) -> None:
    merged = prices.merge(flows, on=["ticker", "date"])
    merged = merged[merged["volume"] > 0]
    for investor in ("foreign", "institution"):
        part = merged[merged["investor"] == investor]
        share = part["net_volume"] / part["volume"]
        known = part["change_pct"].notna().to_numpy()
        corr = np.corrcoef(part["change_pct"].astype(float)[known], share[known])[0, 1]
        assert corr > 0.2, (investor, corr)
        # net_value is the KRW of the same net shares (at the day's typical price)
        moved = part[part["net_volume"] != 0]
        implied = moved["net_value"] / moved["net_volume"]
        assert implied.between(moved["low"] - 1, moved["high"] + 1).mean() > 0.999


def test_sources_sample_index_and_fx_series(market: SampleMarket) -> None:
    start, end = date(2024, 1, 1), date(2026, 11, 20)
    index = market.index_prices(start, end)
    assert set(index["code"]) == {"KOSPI", "KOSDAQ", KOSPI200, *SECTOR_ETFS}
    assert index.groupby("code").size().nunique() == 1
    kodex = index[index["code"] == KOSPI200].set_index("date")["close"]
    stock = market.daily_prices(start, end, [KOSPI200]).set_index("date")["close"]
    assert (kodex == stock).all()
    fx = market.fx_rates(start, end)["rate"]
    assert fx.between(1_150, 1_700).all() and (fx >= 1_400).any() and (fx < 1_400).any()
    series = market.series(end, 120)
    assert set(series) == {"KOSPI", "KOSDAQ", KOSPI200, *SECTOR_ETFS, "USDKRW"}
    assert all(s.close.shape == (120,) for s in series.values())


def test_sources_sample_window_matches_the_frames(
    market: SampleMarket, prices: pd.DataFrame
) -> None:
    window = market.to_window(date(2026, 11, 20), 260)
    assert window.shape == (N_TICKERS, 260)
    row = window.index_of("069500")
    frame = _one(prices, "069500").tail(260)
    assert (window.close[row] == frame["close"].to_numpy()).all()
    assert (window.volume[row] == frame["volume"].to_numpy()).all()
    assert set(window.flags) == {"etf", "etn", "spac", "reit", "preferred"}
    assert window.flags["preferred"].sum() == market.stocks()["is_preferred"].sum()
    # late listings are NaN before their first day
    first = prices.groupby("ticker")["date"].min()
    late = first[first > market.start]
    assert len(late) > 0
    whole = market.to_window(market.end, 10_000)
    i = whole.index_of(late.index[0])
    listed_at = int(np.flatnonzero(whole.dates == np.datetime64(late.iloc[0]))[0])
    assert (
        np.isnan(whole.close[i, :listed_at]).all()
        and not np.isnan(whole.close[i, listed_at:]).any()
    )


def test_sources_sample_random_walk_market_has_nothing_planted() -> None:
    window = random_walk_market(seed=3, n_tickers=100, n_days=300)
    assert window.shape == (100, 300)
    assert SampleMarket(seed=3, n_tickers=100, plant=False).planted.empty


# ------------------------------------------------------------------ planted answers


def test_sources_sample_planted_counts_and_dates(market: SampleMarket) -> None:
    planted = market.planted
    assert list(planted.columns) == ["ticker", "kind", "date", "details"]
    counts = planted["kind"].value_counts()
    assert counts["vcp"] >= 4 and counts["closing_bet"] >= 9 and counts["legacy_vcp"] >= 6
    assert planted["ticker"].is_unique
    vcp_dates = set(planted.loc[planted["kind"] == "vcp", "date"])
    assert market.end in vcp_dates or date(2026, 11, 20) in vcp_dates
    assert len(vcp_dates) >= 3
    # ~40 VCPs in the default 2,500-name market: one per 55 common stocks, 4 to 40.
    commons = int((market.kinds == "common").sum())
    assert counts["vcp"] == min(40, max(4, commons // 55))


def test_sources_sample_planted_details_are_plain_design_facts(market: SampleMarket) -> None:
    """The package publishes what it planted; the expected answers come from the oracle."""
    design_keys = {
        "vcp": {"pattern", "contractions", "contraction_lengths", "base_start"},
        "closing_bet": {"target_grade", "planned_trading_value", "news_count"},
        "legacy_vcp": set(),
    }
    breakout_keys = {"breakout_volume_ratio", "news_count"}
    for rec in market.planted_records:
        json.dumps(rec.details, allow_nan=False)
        extra = breakout_keys if rec.details.get("pattern") == "breakout" else set()
        assert set(rec.details) == design_keys[rec.kind] | extra, rec
    for rec in _records(market, "vcp"):
        answer = expected(market, rec)
        assert answer["contractions"] == rec.details["contractions"]
        assert answer["base_start"] == rec.details["base_start"] < rec.date.isoformat()


def test_sources_sample_planted_vcp_is_really_in_the_prices(
    market: SampleMarket, prices: pd.DataFrame, flows: pd.DataFrame
) -> None:
    for rec in _records(market, "vcp"):
        p = _one(prices, rec.ticker)
        d = _day_index(p, rec.date)
        det = expected(market, rec)
        close, high, low, volume = (
            p[c].to_numpy(dtype=float) for c in ("close", "high", "low", "volume")
        )
        # Minervini trend template on the planted day
        ma = {n: close[d - n + 1 : d + 1].mean() for n in (50, 150, 200)}
        ma200_month_ago = close[d - 220 : d - 20].mean()
        assert close[d] > ma[150] > ma[200] and ma[50] > ma[150] and close[d] > ma[50]
        assert ma[200] > ma200_month_ago
        assert close[d] >= 1.3 * low[d - 249 : d + 1].min()
        assert close[d] >= 0.75 * high[d - 249 : d + 1].max()
        # 2–4 contractions, each shallower than the one before, measured from the frame
        base = _day_index(p, date.fromisoformat(det["base_start"]))
        days = det["contraction_days"]
        depths = []
        for k in range(len(days)):
            lo = base + sum(days[:k])
            peak = lo + int(np.argmax(high[lo : lo + days[k]]))
            depths.append(1 - low[peak : lo + days[k]].min() / high[peak])
        assert 2 <= len(depths) <= 4
        assert all(a > b for a, b in itertools.pairwise(depths)), depths
        assert np.allclose(depths, det["depths"], atol=1e-3)
        assert depths[-1] < 0.08
        last_lo = base + sum(det["contraction_days"][:-1])
        last = slice(last_lo, last_lo + det["contraction_days"][-1])
        avg50 = volume[d - 50 : d].mean()
        assert volume[last].mean() < 0.6 * avg50
        assert det["pivot"] == high[last].max()
        if det["pattern"] == "setup":
            assert 0.95 * det["pivot"] <= close[d] < det["pivot"]
        else:
            assert det["pattern"] == "breakout"
            assert close[d] > det["pivot"] and volume[d] >= 2.0 * avg50
        f = flows[(flows["ticker"] == rec.ticker) & (flows["date"] <= rec.date)]
        for investor in ("foreign", "institution"):
            assert f[f["investor"] == investor].tail(5)["net_volume"].sum() > 0


def test_sources_sample_planted_closing_bets_meet_their_grade_bands(
    market: SampleMarket, prices: pd.DataFrame, flows: pd.DataFrame
) -> None:
    planted = market.planted[market.planted["kind"] == "closing_bet"]
    assert set(d["target_grade"] for d in planted["details"]) == {"S", "A", "B"}
    stocks = market.stocks().set_index("ticker")
    for rec in _records(market, "closing_bet"):
        p = _one(prices, rec.ticker)
        d = _day_index(p, rec.date)
        row = p.iloc[d]
        change = (row["close"] / p.iloc[d - 1]["close"] - 1) * 100
        tv = row["trading_value"]
        grade = rec.details["target_grade"]
        # the universe filter (monolith §4.2)
        assert 1_000 <= row["close"] <= 500_000 and 5.0 <= change <= 29.9 and tv >= 50_000_000_000
        assert not stocks.loc[rec.ticker, ["is_etf", "is_spac", "is_reit", "is_preferred"]].any()
        if grade == "S":
            assert 10 <= change <= 20 and tv >= 1_000_000_000_000
        elif grade == "A":
            assert 8 <= change <= 15 and 500_000_000_000 <= tv < 1_000_000_000_000
        else:
            assert 100_000_000_000 <= tv < 500_000_000_000
        o, h, lo, c = row["open"], row["high"], row["low"], row["close"]
        assert c > o and (c - o) / (h - lo) >= 0.6 and (h - c) / (c - o) <= 0.3
        assert c >= 0.95 * p["high"].iloc[d - 249 : d + 1].max()
        closes = p["close"].to_numpy(dtype=float)
        ma5, ma10, ma20 = (closes[d - n + 1 : d + 1].mean() for n in (5, 10, 20))
        assert c > ma5 > ma10 > ma20
        f = flows[(flows["ticker"] == rec.ticker) & (flows["date"] <= rec.date)]
        for investor in ("foreign", "institution"):
            assert f[f["investor"] == investor].tail(5)["net_volume"].sum() > 0
        news = market.news(rec.date, [rec.ticker])
        assert (news["published_at"].dt.date == rec.date).sum() >= 2
        answer = expected(market, rec)
        assert answer["expected_grade"] == {"S": "A", "A": "A", "B": "B"}[grade]
        assert answer["expected_grade_llm_max"] == grade


def test_sources_sample_planted_legacy_vcp_meets_the_signal_tracker_rule(
    market: SampleMarket, prices: pd.DataFrame, flows: pd.DataFrame
) -> None:
    for rec in _records(market, "legacy_vcp"):
        p = _one(prices, rec.ticker)
        d = _day_index(p, rec.date)
        last20 = p.iloc[d - 19 : d + 1]
        first_range = last20["high"].iloc[:10].max() - last20["low"].iloc[:10].min()
        last_range = last20["high"].iloc[10:].max() - last20["low"].iloc[10:].min()
        assert last_range / first_range <= 0.8
        assert last20["close"].iloc[-1] >= 0.92 * last20["close"].max()
        f = flows[(flows["ticker"] == rec.ticker) & (flows["date"] <= rec.date)]
        fo = f[f["investor"] == "foreign"]["net_volume"].to_numpy()
        ins = f[f["investor"] == "institution"]["net_volume"].to_numpy()
        assert fo[-5:].sum() >= 50_000
        volume20 = float(last20["volume"].sum())
        sdi = supply_demand_index(
            fo[-60:].sum(), fo[-20:].sum(), ins[-60:].sum(), ins[-20:].sum(), volume20
        )
        assert sdi >= 60 and volume20 >= 10_000_000
        assert expected(market, rec)["supply_demand_index"] == pytest.approx(sdi, abs=0.05)


def test_sources_sample_grade_and_supply_index_rules_at_their_boundaries() -> None:
    assert closing_bet_grade(10, 1e12, 10.0, 1, 3) == "S"
    assert closing_bet_grade(9, 1e12, 10.0, 1, 3) == "A"
    assert closing_bet_grade(10, 1e12 - 1, 10.0, 1, 2) == "A"
    assert closing_bet_grade(10, 1e12, 20.01, 1, 3) == "B"
    assert closing_bet_grade(8, 5e11, 15.0, 1, 2) == "A"
    assert closing_bet_grade(6, 1e11, 25.0, 1, 1) == "B"
    assert closing_bet_grade(5, 1e11, 25.0, 1, 1) == "C"
    assert closing_bet_grade(12, 2e12, 12.0, 0, 3) == "C"  # the mandatory news gate
    # neutral flows score (25 + 0 + 2.5) per investor; the volume factor runs from 0.8 to 1.0
    assert supply_demand_index(0, 0, 0, 0, 10_000_000) == pytest.approx(55.0)
    assert supply_demand_index(0, 0, 0, 0, 0) == pytest.approx(44.0)
    assert supply_demand_index(4e6, 4e6, 2.4e6, 2.4e6, 1e7) == pytest.approx(100.0)


def test_sources_sample_news_follow_big_moves(market: SampleMarket, prices: pd.DataFrame) -> None:
    day = date(2026, 11, 20)
    news = market.news(day, list(market.tickers))
    assert set(news["origin"]) == {"sample"}
    assert news["url"].str.fullmatch(r"https://news\.example/sample/\d{6}/\d{9}").all()
    assert not news.duplicated(["ticker", "url"]).any()
    published = news["published_at"].dt.date
    assert set(published) == {day, date(2026, 11, 19)}  # the day and the trading day before
    today = prices[prices["date"] == day]
    movers = set(today.loc[today["change_pct"].astype(float).abs() >= 10, "ticker"])
    assert movers and movers <= set(news.loc[published == day, "ticker"])
    quiet = set(today.loc[today["change_pct"].astype(float).abs() < 5, "ticker"])
    planted = set(market.planted["ticker"])
    assert not (quiet - planted) & set(news.loc[published == day, "ticker"])
    assert market.news(date(2023, 1, 2), list(market.tickers)).empty
