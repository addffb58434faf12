"""A deterministic synthetic KRX-like market with planted answers (the ``sample`` source).

The market is noise (random walks with heterogeneous drift and volatility, a market and a sector
factor, fat tails, KRX tick sizes, the ±30 % daily limit, trading halts, late listings) plus a
few planted patterns whose exact dates are published in :attr:`SampleMarket.planted`, so the
engines can be measured for recall (planted names found) and precision (noise not flagged):

- ``vcp``: a Minervini volatility-contraction pattern after a Stage-2 uptrend, as a setup (close
  just under the pivot) or a breakout (close above the pivot on ≥ 2× the 50-day volume);
- ``closing_bet``: names that pass the closing-bet V2 universe filter and grade S/A/B;
- ``legacy_vcp``: names that pass the monolith's SignalTracker rule (foreign 5-day ≥ 50,000
  shares, supply-demand index ≥ 60, 20-day half-range contraction ≤ 0.8, near the 20-day high).

Each planted record carries the design facts only (what was planted where); the answers an
engine should give (grades, pivots, supply-demand index …) are measured from the frames by the
tests' oracle, tests/helpers/sample_oracle.py.

Everything is generated once in the constructor with numpy over (tickers × days); the frames are
cut from those arrays on request. See docs/synthetic-market.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from krstock.domain.calendar import krx_trading_days
from krstock.domain.market import MarketWindow, SeriesWindow
from krstock.marketdata.base import (
    FLOW_COLUMNS,
    FX_COLUMNS,
    INDEX_COLUMNS,
    KOSDAQ,
    KOSPI,
    KOSPI200,
    NEWS_COLUMNS,
    PRICE_COLUMNS,
    SECTOR_ETFS,
    STOCK_COLUMNS,
    USDKRW,
    SourceError,
)
from krstock.marketdata.ticks import (
    ceil_to_tick,
    floor_to_tick,
    limit_down,
    limit_up,
    round_to_tick,
)

SOURCE = "sample"
DEFAULT_SEED = 20260101
DEFAULT_START = date(2024, 1, 2)
# An explicit default end (never "today"): the market must not depend on the clock.
DEFAULT_END = date(2026, 11, 20)
KST = ZoneInfo("Asia/Seoul")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FLAG_NAMES = ("is_etf", "is_etn", "is_spac", "is_reit", "is_preferred")

# --------------------------------------------------------------------------- names

_PREFIXES = (
    "대한", "한국", "삼양", "동양", "신성", "세진", "우진", "태광", "대성", "동원", "한솔",
    "코리아", "에이스", "유니", "케이", "제이", "에스", "디엔", "한빛", "미래", "새한", "서울",
    "부산", "광주",
    "대우", "성우", "한일", "일진", "진양", "금호", "동부", "효성", "대림", "삼화", "상신", "영풍",
    "고려", "신흥", "동국", "한성", "아진", "세원", "대아", "극동", "남선", "백산", "조광", "경동",
    "한라", "보성", "청담", "가온", "누리", "다온", "라온", "마루", "빛샘", "솔빛", "아름", "초록",
)  # fmt: skip
_SUFFIXES = (
    "전자", "화학", "제약", "바이오", "산업", "중공업", "건설", "테크", "소재", "반도체", "에너지",
    "홀딩스", "시스템", "정밀", "통신", "식품", "물산", "제지", "금속", "기계", "엔지니어링",
    "솔루션", "로직스", "머티리얼즈", "디스플레이", "게임즈", "엔터", "모빌리티", "헬스케어",
    "네트웍스", "케미칼", "인더스트리", "파마", "메디칼", "에스티", "이앤씨", "씨앤에스", "글로벌",
)  # fmt: skip
_MIDDLES = ("신", "뉴", "하이", "에코", "스마트", "그린", "퓨처", "넥스트")
_SECTORS = (
    "반도체", "2차전지", "자동차", "IT", "은행", "철강", "증권", "바이오", "화학", "건설",
    "유통", "게임", "엔터", "조선", "음식료",
)  # fmt: skip
# Sectors whose ETF series are published as index_prices rows (base.SECTOR_ETFS order).
_ETF_SECTOR = {code: _SECTORS.index(label) for code, label in SECTOR_ETFS.items()}
_ETF_BRANDS = ("KODEX", "TIGER", "KBSTAR", "ARIRANG", "HANARO", "SOL", "ACE", "PLUS")
_ETF_THEMES = (
    "코스닥150", "미국S&P500", "레버리지", "인버스", "200TR", "고배당", "국고채10년", "반도체TOP10",
    "2차전지테마", "미국나스닥100", "차이나CSI300", "헬스케어", "골드선물", "단기채권", "배당성장",
)  # fmt: skip
_SPAC_BROKERS = (
    "하나금융",
    "미래에셋비전",
    "엔에이치",
    "삼성",
    "케이비",
    "신한",
    "대신밸런스",
    "유진",
)
_REIT_BRANDS = (
    "신한알파",
    "롯데",
    "제이알글로벌",
    "이지스밸류",
    "코람코에너지",
    "에스케이",
    "디앤디",
)
_NEWS_SOURCES = ("연합뉴스", "한국경제", "매일경제", "머니투데이", "이데일리", "뉴스1", "서울경제")
_POSITIVE_TITLES = (
    "{name}, 대규모 수주 계약 체결",
    "{name}, 실적 서프라이즈 기대감에 강세",
    "{name}, 신제품 공개… 외국인 매수세 유입",
    "{name} 주가 {chg:+.1f}% 마감, 거래대금 급증",
    "{name}, 증권가 목표주가 상향",
)
_NEGATIVE_TITLES = (
    "{name}, 실적 부진 우려에 약세",
    "{name} {chg:+.1f}% 하락… 차익 실현 매물",
    "{name}, 유상증자 결정에 급락",
)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class PlantedRecord:
    """One planted pattern: ``ticker`` shows pattern ``kind`` on ``date``. ``details`` are the
    design facts (what was planted: pattern, contraction lengths, target grade, news count …) as
    plain JSON values; the answers an engine should give are measured from the frames by the
    tests' oracle (tests/helpers/sample_oracle.py), not by the generator."""

    ticker: str
    kind: str
    date: date
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Arrays:
    """The generated market as (tickers × days) arrays; NaN before a ticker's listing."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    prev_close: FloatArray
    volume: FloatArray
    trading_value: FloatArray
    halted: BoolArray
    listed: BoolArray
    foreign_shares: FloatArray
    inst_shares: FloatArray
    foreign_krw: FloatArray
    inst_krw: FloatArray


class _Overrides:
    """Writes into a (tickers × days) array, kept sparse and replayed onto the noise array
    (a planted pattern touches a few hundred cells of millions)."""

    def __init__(self) -> None:
        self._writes: list[tuple[int, int | slice, FloatArray]] = []

    def __setitem__(self, key: tuple[int, int | slice], values: float | FloatArray) -> None:
        row, cols = key
        self._writes.append((row, cols, np.array(values, dtype=np.float64)))

    def apply_to(self, array: FloatArray) -> FloatArray:
        for row, cols, values in self._writes:
            array[row, cols] = values
        return array


@dataclass
class _Design:
    """Per-cell overrides written by the planted patterns (elsewhere the noise stays)."""

    gap: _Overrides = field(default_factory=_Overrides)
    up: _Overrides = field(default_factory=_Overrides)
    down: _Overrides = field(default_factory=_Overrides)
    vmult: _Overrides = field(default_factory=_Overrides)
    foreign_frac: _Overrides = field(default_factory=_Overrides)
    inst_frac: _Overrides = field(default_factory=_Overrides)


# --------------------------------------------------------------------------- the market


class SampleMarket:
    """The ``sample`` market data source. Deterministic for (seed, n_tickers, start, end, plant)."""

    name = SOURCE

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        n_tickers: int = 2500,
        start: date = DEFAULT_START,
        end: date | None = None,
        *,
        plant: bool = True,
    ) -> None:
        if n_tickers < 60:
            raise ValueError(f"n_tickers must be at least 60, got {n_tickers}")
        end = end or DEFAULT_END
        self.dates = krx_trading_days(start, end)
        if self.dates.size < 2:
            raise ValueError(f"fewer than 2 KRX trading days between {start} and {end}")
        self.seed = seed
        self.start = start
        self.end = end
        self._rng = np.random.default_rng(seed)
        self._build_universe(n_tickers)
        self.planted_records: list[PlantedRecord] = []
        self._generate(plant)

    # ----------------------------------------------------------------- public API

    @property
    def planted(self) -> pd.DataFrame:
        """Planted answers: columns ticker, kind, date, details (a dict per row)."""
        return pd.DataFrame(
            [
                {"ticker": r.ticker, "kind": r.kind, "date": r.date, "details": r.details}
                for r in self.planted_records
            ],
            columns=["ticker", "kind", "date", "details"],
        )

    def stocks(self) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "ticker": self.tickers,
                "name": self.names,
                "market": self.markets,
                "sector": self.sectors,
                "listing_status": "LISTED",
                **{flag: self.flags[flag] for flag in FLAG_NAMES},
                "source": SOURCE,
            }
        )
        return frame[STOCK_COLUMNS]

    def daily_prices(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        rows, days = self._select(start, end, tickers)
        a = self._a
        mask = a.listed[np.ix_(rows, days)]
        close = a.close[np.ix_(rows, days)]
        prev = a.prev_close[np.ix_(rows, days)]
        change = np.where(np.isnan(prev), np.nan, close - prev)
        with np.errstate(invalid="ignore", divide="ignore"):
            change_pct = np.round(change / prev * 100.0, 2)
        cols: dict[str, Any] = self._keys(rows, days, mask)
        for name, arr in (
            ("open", a.open),
            ("high", a.high),
            ("low", a.low),
            ("close", a.close),
            ("volume", a.volume),
            ("trading_value", a.trading_value),
        ):
            cols[name] = arr[np.ix_(rows, days)][mask].astype(np.int64)
        cols["change"] = pd.Series(np.round(change[mask])).astype("Int64").array
        cols["change_pct"] = pd.array(change_pct[mask], dtype="Float64")
        cols["halted"] = a.halted[np.ix_(rows, days)][mask]
        cols["source"] = SOURCE
        return pd.DataFrame(cols)[PRICE_COLUMNS]

    def investor_flows(
        self, start: date, end: date, tickers: list[str] | None = None
    ) -> pd.DataFrame:
        rows, days = self._select(start, end, tickers)
        a = self._a
        mask = a.listed[np.ix_(rows, days)]
        parts = []
        for investor, shares, krw in (
            ("foreign", a.foreign_shares, a.foreign_krw),
            ("institution", a.inst_shares, a.inst_krw),
        ):
            cols = self._keys(rows, days, mask)
            cols["investor"] = investor
            cols["net_volume"] = shares[np.ix_(rows, days)][mask].astype(np.int64)
            cols["net_value"] = krw[np.ix_(rows, days)][mask].astype(np.int64)
            cols["source"] = SOURCE
            parts.append(pd.DataFrame(cols))
        frame = pd.concat(parts, ignore_index=True)
        return frame.sort_values(["ticker", "date", "investor"], kind="stable")[
            FLOW_COLUMNS
        ].reset_index(drop=True)

    def index_prices(self, start: date, end: date) -> pd.DataFrame:
        _, days = self._select(start, end, [])
        parts = []
        for code, ohlcv in self._index.items():
            parts.append(
                pd.DataFrame(
                    {
                        "code": code,
                        "date": self._date_objects[days],
                        "open": ohlcv["open"][days],
                        "high": ohlcv["high"][days],
                        "low": ohlcv["low"][days],
                        "close": ohlcv["close"][days],
                        "volume": ohlcv["volume"][days].astype(np.int64),
                        "trading_value": ohlcv["trading_value"][days].astype(np.int64),
                        "source": SOURCE,
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)[INDEX_COLUMNS]

    def fx_rates(self, start: date, end: date) -> pd.DataFrame:
        _, days = self._select(start, end, [])
        return pd.DataFrame(
            {
                "pair": USDKRW,
                "date": self._date_objects[days],
                "rate": self._fx[days],
                "source": SOURCE,
            }
        )[FX_COLUMNS]

    def news(self, day: date, tickers: list[str]) -> pd.DataFrame:
        """Headlines published on ``day`` or the trading day before (the monolith's 2-day
        window), for ``tickers``."""
        cut = int(np.searchsorted(self.dates, np.datetime64(day, "D"), side="right"))
        if cut == 0:
            return pd.DataFrame(columns=NEWS_COLUMNS)
        frame = self._news
        wanted = frame["day_index"].between(max(cut - 2, 0), cut - 1) & frame["ticker"].isin(
            list(tickers)
        )
        return frame.loc[wanted, NEWS_COLUMNS].reset_index(drop=True)

    def to_window(self, end: date, days: int) -> MarketWindow:
        """The last ``days`` trading days up to ``end`` as domain arrays (no database)."""
        stop = int(np.searchsorted(self.dates, np.datetime64(end, "D"), side="right"))
        if stop == 0:
            raise ValueError(f"{end} is before the sample market starts ({self.start})")
        first = max(stop - days, 0)
        cut = slice(first, stop)
        a = self._a
        listed = a.listed[:, cut]

        def masked(arr: FloatArray) -> FloatArray:
            return np.where(listed, arr[:, cut], np.nan)

        return MarketWindow(
            tickers=self.tickers.astype(np.str_),
            dates=self.dates[cut].copy(),
            open=masked(a.open),
            high=masked(a.high),
            low=masked(a.low),
            close=masked(a.close),
            volume=masked(a.volume),
            trading_value=masked(a.trading_value),
            halted=a.halted[:, cut] & listed,
            foreign_net_shares=masked(a.foreign_shares),
            inst_net_shares=masked(a.inst_shares),
            foreign_net_krw=masked(a.foreign_krw),
            inst_net_krw=masked(a.inst_krw),
            names=self.names.astype(object),
            markets=self.markets.astype(object),
            # The same keys as krstock.db.reader (flag name without "is_").
            flags={flag.removeprefix("is_"): self.flags[flag].copy() for flag in FLAG_NAMES},
        )

    def series(self, end: date, days: int) -> dict[str, SeriesWindow]:
        """Index, KODEX 200, sector-ETF and USD/KRW series for the last ``days`` trading days."""
        stop = int(np.searchsorted(self.dates, np.datetime64(end, "D"), side="right"))
        if stop == 0:
            raise ValueError(f"{end} is before the sample market starts ({self.start})")
        cut = slice(max(stop - days, 0), stop)
        out = {
            code: SeriesWindow(
                code=code,
                dates=self.dates[cut].copy(),
                close=ohlcv["close"][cut].copy(),
                high=ohlcv["high"][cut].copy(),
                low=ohlcv["low"][cut].copy(),
                volume=ohlcv["volume"][cut].copy(),
            )
            for code, ohlcv in self._index.items()
        }
        out[USDKRW] = SeriesWindow(code=USDKRW, dates=self.dates[cut].copy(), close=self._fx[cut])
        return out

    def planted_on(self, kind: str, day: date) -> list[PlantedRecord]:
        return [r for r in self.planted_records if r.kind == kind and r.date == day]

    # ----------------------------------------------------------------- frame helpers

    def _select(
        self, start: date, end: date, tickers: list[str] | None
    ) -> tuple[IntArray, IntArray]:
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        if end < self.start or start > self.end:
            raise SourceError(
                f"sample market covers {self.start}..{self.end}; nothing in {start}..{end}"
            )
        lo = int(np.searchsorted(self.dates, np.datetime64(start, "D"), side="left"))
        hi = int(np.searchsorted(self.dates, np.datetime64(end, "D"), side="right"))
        days = np.arange(lo, hi, dtype=np.int64)
        if tickers is None:
            rows = np.arange(self.tickers.size, dtype=np.int64)
        else:
            unknown = [t for t in tickers if t not in self._row_of]
            if unknown:
                raise SourceError(f"unknown tickers in the sample market: {unknown[:10]}")
            rows = np.array([self._row_of[t] for t in tickers], dtype=np.int64)
        return rows, days

    def _keys(self, rows: IntArray, days: IntArray, mask: BoolArray) -> dict[str, Any]:
        ticker_grid = np.broadcast_to(self.tickers[rows][:, None], mask.shape)
        date_grid = np.broadcast_to(self._date_objects[days][None, :], mask.shape)
        return {"ticker": ticker_grid[mask], "date": date_grid[mask]}

    # ----------------------------------------------------------------- universe

    def _build_universe(self, n: int) -> None:
        rng = self._rng
        fixed_etfs = [KOSPI200, *SECTOR_ETFS]
        n_etf = max(len(fixed_etfs) + 2, round(0.02 * n))
        n_spac = max(2, round(0.015 * n))
        n_reit = max(2, round(0.01 * n))
        n_pref = max(3, round(0.03 * n))
        n_common = n - n_etf - n_spac - n_reit - n_pref

        # Codes: 6 digits ending in 0 for everything but preferreds (common code + 5).
        fixed_codes = {int(c) for c in fixed_etfs}
        pool = np.setdiff1d(np.arange(2, 49_999) * 10, np.array(sorted(fixed_codes)))
        drawn = rng.choice(
            pool, size=n_common + n_spac + n_reit + n_etf - len(fixed_etfs), replace=False
        )
        common_codes = drawn[:n_common]
        spac_codes = drawn[n_common : n_common + n_spac]
        reit_codes = drawn[n_common + n_spac : n_common + n_spac + n_reit]
        etf_codes = drawn[n_common + n_spac + n_reit :]

        common_names = self._common_names(n_common)
        common_market = np.where(rng.random(n_common) < 0.4, KOSPI, KOSDAQ)
        kospi_commons = np.flatnonzero(common_market == KOSPI)
        pref_of = rng.choice(kospi_commons, size=min(n_pref, kospi_commons.size), replace=False)
        n_pref = pref_of.size

        etf_names = [
            f"KODEX {SECTOR_ETFS[c]}" if c in SECTOR_ETFS else "KODEX 200" for c in fixed_etfs
        ]
        combos = [f"{b} {t}" for t in _ETF_THEMES for b in _ETF_BRANDS]
        pick = rng.permutation(len(combos))[: etf_codes.size]
        etf_names += [combos[k] for k in pick]

        rows: list[tuple[str, str, str, str | None, str]] = []
        sector_pick = rng.integers(0, len(_SECTORS), size=n_common)
        for k in range(n_common):
            rows.append(
                (f"{common_codes[k]:06d}", common_names[k], str(common_market[k]),
                 _SECTORS[sector_pick[k]], "common")
            )  # fmt: skip
        for k in pref_of:
            rows.append(
                (f"{common_codes[k] + 5:06d}", common_names[k] + "우", KOSPI,
                 _SECTORS[sector_pick[k]], "preferred")
            )  # fmt: skip
        for j, code in enumerate(spac_codes):
            name = f"{_SPAC_BROKERS[j % len(_SPAC_BROKERS)]}스팩{11 + j}호"
            rows.append((f"{code:06d}", name, KOSDAQ, None, "spac"))
        for j, code in enumerate(reit_codes):
            suffix = "" if j < len(_REIT_BRANDS) else str(j // len(_REIT_BRANDS) + 1)
            rows.append((f"{code:06d}", f"{_REIT_BRANDS[j % len(_REIT_BRANDS)]}리츠{suffix}",
                         KOSPI, "부동산", "reit"))  # fmt: skip
        all_etf_codes = [*fixed_etfs, *[f"{c:06d}" for c in etf_codes]]
        for code, name in zip(all_etf_codes, etf_names, strict=True):
            rows.append((code, name, KOSPI, "ETF", "etf"))
        rows.sort(key=lambda r: r[0])

        self.tickers = np.array([r[0] for r in rows], dtype=object)
        self.names = np.array([r[1] for r in rows], dtype=object)
        self.markets = np.array([r[2] for r in rows], dtype=object)
        self.sectors = np.array([r[3] for r in rows], dtype=object)
        self.kinds = np.array([r[4] for r in rows], dtype=object)
        self._row_of = {t: i for i, t in enumerate(self.tickers)}
        self.flags: dict[str, BoolArray] = {
            "is_etf": self.kinds == "etf",
            "is_etn": np.zeros(len(rows), dtype=bool),
            "is_spac": self.kinds == "spac",
            "is_reit": self.kinds == "reit",
            "is_preferred": self.kinds == "preferred",
        }
        self._sector_index = np.array(
            [_SECTORS.index(s) if s in _SECTORS else -1 for s in self.sectors], dtype=np.int64
        )
        self._date_objects = np.array(
            [d.item() for d in self.dates.astype("datetime64[D]")], dtype=object
        )

    def _common_names(self, n: int) -> list[str]:
        combos = [p + s for p in _PREFIXES for s in _SUFFIXES]
        combos += [p + m + s for m in _MIDDLES for p in _PREFIXES for s in _SUFFIXES]
        if n > len(combos):
            raise ValueError(f"n_tickers too large for the name generator ({len(combos)} names)")
        first = len(_PREFIXES) * len(_SUFFIXES)
        order = np.concatenate(
            [self._rng.permutation(first), first + self._rng.permutation(len(combos) - first)]
        )
        return [combos[k] for k in order[:n]]

    # ----------------------------------------------------------------- generation

    def _generate(self, plant: bool) -> None:
        rng = self._rng
        n_t, n_d = self.tickers.size, self.dates.size
        kinds = self.kinds
        is_kospi = self.markets == KOSPI

        # Market and sector factors (daily log returns).
        kospi_r = rng.normal(0.0003, 0.0105, n_d)
        kosdaq_r = 0.9 * kospi_r + rng.normal(-0.0001, 0.007, n_d)
        sector_r = rng.normal(0.0, 0.007, (len(_SECTORS), n_d))

        # Per-ticker parameters.
        sigma = np.where(is_kospi, 0.019, 0.028) * np.exp(rng.normal(0, 0.3, n_t))
        beta = np.clip(rng.normal(1.0, 0.3, n_t), 0.2, 2.0)
        mu = rng.normal(0.0, 0.0006, n_t)
        p0 = np.exp(rng.uniform(math.log(1_000), math.log(300_000), n_t))
        p0 = np.where(rng.random(n_t) < 0.012, np.exp(rng.uniform(13.1, 14.2, n_t)), p0)
        tv_base = np.exp(
            np.where(
                is_kospi, rng.normal(math.log(5e9), 1.4, n_t), rng.normal(math.log(2e9), 1.3, n_t)
            )
        )
        tv_base = np.minimum(tv_base, 4e11)
        special = {"spac": (0.004, 2_100.0, 8e7), "reit": (0.009, 5_000.0, 1.5e9),
                   "etf": (0.011, 15_000.0, 2e10)}  # fmt: skip
        for kind, (sig, price, tv) in special.items():
            sel = kinds == kind
            sigma[sel] = sig
            p0[sel] = price * np.exp(rng.normal(0, 0.25, sel.sum()))
            tv_base[sel] = tv * np.exp(rng.normal(0, 0.6, sel.sum()))
            beta[sel] = 0.0 if kind == "spac" else beta[sel]

        # Returns: drift + beta × market + sector + fat-tailed idiosyncratic noise.
        market_r = np.where(is_kospi[:, None], kospi_r[None, :], kosdaq_r[None, :])
        sector_part = np.where(
            (self._sector_index >= 0)[:, None], sector_r[np.maximum(self._sector_index, 0)], 0.0
        )
        shocks = rng.standard_t(4, (n_t, n_d)) / math.sqrt(2.0)
        idio = sigma[:, None] * shocks
        ret = mu[:, None] + beta[:, None] * market_r + 0.6 * sector_part + idio
        del market_r, sector_part, shocks
        # ETFs track their index: KODEX 200 the KOSPI, sector ETFs the KOSPI plus their sector.
        etf_rows = np.flatnonzero(kinds == "etf")
        for i in etf_rows:
            code = self.tickers[i]
            own = _ETF_SECTOR.get(code)
            base = kospi_r if own is None else 0.9 * kospi_r + sector_r[own]
            if code != KOSPI200 and own is None:
                base = rng.uniform(-1.2, 1.2) * kospi_r
            ret[i] = base + rng.normal(0, 0.0008, n_d)
            idio[i] = ret[i] - base
        ret = np.clip(ret, math.log(0.72), math.log(1.28))
        zscore = idio / np.maximum(sigma[:, None], 1e-4)
        del idio
        design = _Design()

        # Late listings (IPOs) among common stocks.
        listing_day = np.zeros(n_t, dtype=np.int64)
        commons = np.flatnonzero(kinds == "common")
        order = rng.permutation(commons)
        n_ipo = int(0.03 * commons.size)
        ipo_rows = order[:n_ipo]
        listing_day[ipo_rows] = rng.integers(1, max(2, n_d - 5), size=n_ipo)

        plans: list[_Plan] = []
        if plant:
            candidates = order[n_ipo:]
            plans = _plan_patterns(rng, candidates, n_d, commons.size)
            for plan in plans:
                plan.apply(rng, ret, design, p0, tv_base)

        self._add_limit_moves(ret, zscore, {p.row for p in plans})

        # Halts: spells on a few tickers that carry no plant, plus single-day halts.
        halted = np.zeros((n_t, n_d), dtype=bool)
        planted_rows = {p.row for p in plans}
        eligible = np.array(
            [i for i in order[n_ipo:] if i not in planted_rows]
            + list(np.flatnonzero((kinds == "preferred") | (kinds == "reit")))
        )
        n_spells = max(2, int(0.015 * n_t))
        for i in rng.choice(eligible, size=min(n_spells, eligible.size), replace=False):
            start = int(rng.integers(1, max(2, n_d - 1)))
            halted[i, start : start + int(rng.geometric(0.12))] = True
        singles = rng.choice(eligible, size=min(max(2, int(0.01 * n_t)), eligible.size))
        halted[singles, rng.integers(1, n_d, size=singles.size)] = True
        halted[np.arange(n_d)[None, :] <= listing_day[:, None]] = False

        # Closes: the level path rounded to the tick, kept inside ±30 % of the previous close.
        # Vectorized first; then only the rows with a halt or a limit hit are walked day by day
        # (the same result as walking every row: elsewhere the limits never bind).
        level = p0[:, None] * np.exp(np.cumsum(ret, axis=1))
        close = round_to_tick(level)
        first_prev = round_to_tick(p0)
        prev_close = np.concatenate([first_prev[:, None], close[:, :-1]], axis=1)
        limited = (close > limit_up(prev_close)) | (close < limit_down(prev_close))
        walk = np.flatnonzero(limited.any(axis=1) | halted.any(axis=1))
        del limited
        if walk.size:
            sub_level, sub_halted = level[walk], halted[walk]
            sub_close = np.empty((walk.size, n_d))
            prev = first_prev[walk]
            for t in range(n_d):
                target = np.clip(round_to_tick(sub_level[:, t]), limit_down(prev), limit_up(prev))
                prev = np.where(sub_halted[:, t], prev, target)
                sub_close[:, t] = prev
            close[walk] = sub_close
            prev_close[walk] = np.concatenate([first_prev[walk, None], sub_close[:, :-1]], axis=1)
        del level

        # Open, high, low from the noise (or the planted design), on the tick, inside the limits.
        up_lim, dn_lim = limit_up(prev_close), limit_down(prev_close)
        gap = design.gap.apply_to(
            rng.uniform(0, 0.5, (n_t, n_d)) * np.log(close / prev_close)
            + rng.normal(0, 0.3, (n_t, n_d)) * sigma[:, None]
        )
        up = design.up.apply_to(np.abs(rng.normal(0, 0.5, (n_t, n_d))) * sigma[:, None])
        down = design.down.apply_to(np.abs(rng.normal(0, 0.5, (n_t, n_d))) * sigma[:, None])
        open_ = np.clip(round_to_tick(prev_close * np.exp(gap)), dn_lim, up_lim)
        del gap
        top = np.maximum(open_, close)
        high = np.clip(ceil_to_tick(top * np.exp(up)), top, np.maximum(up_lim, top))
        del top, up, up_lim
        bottom = np.minimum(open_, close)
        low = np.clip(floor_to_tick(bottom * np.exp(-down)), np.minimum(dn_lim, bottom), bottom)
        del bottom, down, dn_lim

        # Volume: a base trading value, busier on big-move days; planted multipliers on top.
        vmult = design.vmult.apply_to(
            np.exp(rng.normal(0, 0.35, (n_t, n_d))) * (1 + 1.2 * np.minimum(np.abs(zscore), 5))
        )
        volume = np.maximum(np.round(tv_base[:, None] / close * vmult), 1.0)
        del vmult
        for plan in plans:
            plan.fix_volume(volume, close, high, low)

        # Investor flows: a fraction of volume, correlated with the day's move.
        signal = np.tanh(zscore)
        del zscore
        bias_f = rng.normal(0, 0.015, n_t)[:, None]
        bias_i = rng.normal(0, 0.012, n_t)[:, None]
        f_frac = design.foreign_frac.apply_to(
            np.clip(0.06 * signal + bias_f + rng.normal(0, 0.05, (n_t, n_d)), -0.45, 0.45)
        )
        i_frac = design.inst_frac.apply_to(
            np.clip(0.04 * signal + bias_i + rng.normal(0, 0.04, (n_t, n_d)), -0.45, 0.45)
        )
        del signal

        # Halted days: no trading at all.
        open_[halted] = high[halted] = low[halted] = 0.0
        volume[halted] = 0.0
        typical = (high + low + 2.0 * close) / 4.0
        trading_value = np.round(volume * typical)
        foreign_shares = np.round(f_frac * volume)
        inst_shares = np.round(i_frac * volume)
        del f_frac, i_frac
        listed = np.arange(n_d)[None, :] >= listing_day[:, None]
        # An IPO's listing day has no previous close (day 0 of the market has one: p0).
        ipo_day = (np.arange(n_d)[None, :] == listing_day[:, None]) & (listing_day[:, None] > 0)
        prev_close = np.where(ipo_day, np.nan, prev_close)
        self._a = _Arrays(
            open=open_,
            high=high,
            low=low,
            close=close,
            prev_close=prev_close,
            volume=volume,
            trading_value=trading_value,
            halted=halted,
            listed=listed,
            foreign_shares=foreign_shares,
            inst_shares=inst_shares,
            foreign_krw=np.round(foreign_shares * typical),
            inst_krw=np.round(inst_shares * typical),
        )
        self._generate_series(rng, kospi_r, kosdaq_r)
        self.planted_records = [plan.record(self) for plan in plans]
        self._generate_news(plans)

    def _add_limit_moves(self, ret: FloatArray, zscore: FloatArray, planted_rows: set[int]) -> None:
        """Theme-stock days: about 2 names a day hit the +30 % limit (and 1 in 4 as many the
        −30 % limit) on heavy volume, so filters that exclude limit moves have cases to exclude.
        Drawn from a separate random stream: the rest of the market is unchanged by it."""
        n_t, n_d = ret.shape
        jumps = np.random.default_rng([self.seed, 30])
        eligible = np.isin(self.kinds, ("common", "preferred"))
        eligible[list(planted_rows)] = False
        hit = (jumps.random((n_t, n_d)) < 0.001) & eligible[:, None]  # ~2.5 a day in 2,500
        hit[:, 0] = False
        rows, days = np.nonzero(hit)
        up = jumps.random(rows.size) < 0.8
        # Just past the limit: the close then sits exactly on the limit price of its tick.
        ret[rows, days] = np.where(up, math.log(1.31), math.log(0.69))
        zscore[rows, days] = np.where(up, 4.0, -4.0)

    def _generate_series(
        self, rng: np.random.Generator, kospi_r: FloatArray, kosdaq_r: FloatArray
    ) -> None:
        n_d = self.dates.size
        self._index: dict[str, dict[str, FloatArray]] = {}
        for code, base, r, vol, tv in (
            (KOSPI, 2_650.0, kospi_r, 4.5e8, 1.0e13),
            (KOSDAQ, 860.0, kosdaq_r, 9.0e8, 8.0e12),
        ):
            close = np.round(base * np.exp(np.cumsum(r)), 2)
            prev = np.concatenate([[base], close[:-1]])
            open_ = np.round(prev * np.exp(0.3 * r + rng.normal(0, 0.002, n_d)), 2)
            high = np.round(np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n_d))), 2)
            low = np.round(np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n_d))), 2)
            self._index[code] = {
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "volume": np.round(vol * np.exp(rng.normal(0, 0.25, n_d))),
                "trading_value": np.round(tv * np.exp(rng.normal(0, 0.25, n_d))),
            }
        a = self._a
        for code in [KOSPI200, *SECTOR_ETFS]:
            i = self._row_of[code]
            self._index[code] = {
                "open": a.open[i].copy(),
                "high": a.high[i].copy(),
                "low": a.low[i].copy(),
                "close": a.close[i].copy(),
                "volume": a.volume[i].copy(),
                "trading_value": a.trading_value[i].copy(),
            }
        # USD/KRW: mean-reverting around a slowly moving anchor that crosses 1,400 and 1,450.
        anchors_x = np.array(
            [np.datetime64(d, "D").astype(np.int64) for d in
             (date(2024, 1, 1), date(2024, 12, 20), date(2025, 6, 30), date(2025, 12, 31),
              date(2026, 12, 31))]
        )  # fmt: skip
        anchors_y = np.log([1_300.0, 1_465.0, 1_370.0, 1_445.0, 1_410.0])
        target = np.interp(self.dates.astype(np.int64), anchors_x, anchors_y)
        shocks = rng.normal(0, 0.0035, n_d)
        fx = np.empty(n_d)
        x = target[0]
        for t in range(n_d):
            x = x + 0.04 * (target[t] - x) + shocks[t]
            fx[t] = x
        self._fx: FloatArray = np.round(np.exp(fx), 2).astype(np.float64)

    def _generate_news(self, plans: list[_Plan]) -> None:
        """1–3 headlines for every move of 10 % or more; planted days get their own count."""
        a = self._a
        with np.errstate(invalid="ignore", divide="ignore"):
            change = np.nan_to_num((a.close - a.prev_close) / a.prev_close * 100.0)
        size = np.abs(change)
        movers = (size >= 10.0) & a.listed & ~a.halted
        counts = np.where(movers, 1 + (size >= 15) + (size >= 25), 0).astype(np.int64)
        for plan in plans:
            for day, n in plan.news_days():
                counts[plan.row, day] = n
        rows, days = np.nonzero(counts)
        n_items = counts[rows, days]
        # One entry per headline: (row, day, k-th headline of that day).
        item_rows = np.repeat(rows, n_items).tolist()
        item_days = np.repeat(days, n_items).tolist()
        item_k = np.arange(int(n_items.sum())) - np.repeat(np.cumsum(n_items) - n_items, n_items)
        changes = change[item_rows, item_days].tolist()
        closes = a.close[item_rows, item_days].tolist()
        records = []
        for i, t, k, chg, close in zip(
            item_rows, item_days, item_k.tolist(), changes, closes, strict=True
        ):
            titles = _POSITIVE_TITLES if chg >= 0 else _NEGATIVE_TITLES
            day = self._date_objects[t]
            ticker, name = self.tickers[i], self.names[i]
            records.append(
                (
                    ticker,
                    titles[(i * 31 + t * 7 + k) % len(titles)].format(name=name, chg=chg),
                    f"https://news.example/sample/{ticker}/{day:%Y%m%d}{k}",
                    _NEWS_SOURCES[(i + k) % len(_NEWS_SOURCES)],
                    f"{name} 종가 {int(close):,}원 ({chg:+.2f}%).",
                    datetime.combine(day, time(15, 40 + k * 5), tzinfo=KST),
                    SOURCE,
                    t,
                )
            )
        self._news = pd.DataFrame(records, columns=[*NEWS_COLUMNS, "day_index"])


# --------------------------------------------------------------------------- planted patterns


def _smooth(a: float, b: float, n: int) -> FloatArray:
    """``n`` values moving from just after ``a`` to ``b`` along a half cosine."""
    s = np.arange(1, n + 1) / n
    return a + (b - a) * (1 - np.cos(np.pi * s)) / 2


def _uptrend(rng: np.random.Generator, days: int, gain: float, wiggle: float) -> FloatArray:
    """A log path rising by ln(gain) to 0 at the last day, with mean-reverting noise that fades
    out at the end (so the last day is the high)."""
    trend = np.linspace(-math.log(gain), 0.0, days)
    noise = np.empty(days)
    x = 0.0
    for t in range(days):
        x = 0.85 * x + rng.normal(0, wiggle)
        noise[t] = x
    taper = np.clip(np.arange(days)[::-1] / 15.0, 0, 1)
    return trend + noise * taper


@dataclass
class _Plan:
    """A planted pattern for one ticker ending on day index ``day``."""

    row: int
    kind: str
    day: int
    params: dict[str, Any]
    path: FloatArray = field(default_factory=lambda: np.zeros(0))
    first: int = 0  # first day index of the designed window

    # The design is a log path of closes (relative to an anchor price) over days first..day.

    def apply(
        self,
        rng: np.random.Generator,
        ret: FloatArray,
        design: _Design,
        p0: FloatArray,
        tv_base: FloatArray,
    ) -> None:
        builder = {"vcp": _design_vcp, "closing_bet": _design_closing_bet,
                   "legacy_vcp": _design_legacy}[self.kind]  # fmt: skip
        path, anchor, tv = builder(rng, self, design)
        self.path = path
        self.first = self.day - path.size + 1
        i, lo, hi = self.row, self.first, self.day + 1
        # Calm noise before the window so the start level stays plausible.
        ret[i, :lo] = np.clip(ret[i, :lo], -0.04, 0.04)
        ret[i, lo] = 0.0
        ret[i, lo + 1 : hi] = np.diff(path)
        p0[i] = anchor * math.exp(path[0]) * math.exp(-ret[i, :lo].sum())
        tv_base[i] = tv

    def fix_volume(
        self, volume: FloatArray, close: FloatArray, high: FloatArray, low: FloatArray
    ) -> None:
        i, d = self.row, self.day
        if self.kind == "vcp" and self.params["pattern"] == "breakout":
            avg50 = volume[i, d - 50 : d].mean()
            volume[i, d] = round(avg50 * self.params["breakout_volume_ratio"])
        if self.kind == "closing_bet":
            typical = (high[i, d] + low[i, d] + 2 * close[i, d]) / 4
            volume[i, d] = math.ceil(self.params["planned_trading_value"] / typical)

    def news_days(self) -> list[tuple[int, int]]:
        """(day index, headline count) planted for this pattern: only ever its own day."""
        count = self.params.get("news_count", 0)
        return [(self.day, count)] if count else []

    def record(self, market: SampleMarket) -> PlantedRecord:
        """The published design facts: the parameters, day indices as ISO dates."""
        details = dict(self.params)
        if "base_start" in details:
            details["base_start"] = market._date_objects[details["base_start"]].isoformat()
        return PlantedRecord(
            ticker=str(market.tickers[self.row]),
            kind=self.kind,
            date=market._date_objects[self.day],
            details=details,
        )


VCP_UPTREND_DAYS = 260
VCP_OFFSETS = (0, 12, 40, 85, 140, 210)
CLOSING_BET_OFFSETS = (0, 4, 30, 75)
LEGACY_OFFSETS = (0, 8, 50)
_DEPTHS = {2: (0.11, 0.045), 3: (0.16, 0.085, 0.04), 4: (0.20, 0.11, 0.06, 0.03)}


def _plan_patterns(
    rng: np.random.Generator, candidates: IntArray, n_days: int, n_common: int
) -> list[_Plan]:
    """Choose tickers and dates for every planted pattern (distinct tickers)."""
    n_vcp = min(40, max(4, n_common // 55))
    cb_per_day = min(10, max(3, n_common // 220))
    legacy_per_day = min(8, max(2, n_common // 280))
    last = n_days - 1
    pool = iter(candidates.tolist())
    plans: list[_Plan] = []

    vcp_days = [last - o for o in VCP_OFFSETS if last - o >= VCP_UPTREND_DAYS + 4 * 15 + 5]
    if vcp_days:
        # A third on the market's last day, the rest spread over the earlier dates.
        share = [n_vcp] if len(vcp_days) == 1 else [n_vcp // 3] + [0] * (len(vcp_days) - 1)
        for k in range(n_vcp - sum(share)):
            share[1 + k % (len(vcp_days) - 1)] += 1
        k = 0
        for day, count in zip(vcp_days, share, strict=True):
            for _ in range(count):
                contractions = (3, 4, 2, 3, 4)[k % 5]
                pattern = "setup" if k % 2 == 0 else "breakout"
                params: dict[str, Any] = {"pattern": pattern, "contractions": contractions}
                if pattern == "breakout":
                    params["news_count"] = 1  # one headline on the breakout day
                plans.append(_Plan(next(pool), "vcp", day, params))
                k += 1

    cb_days = [last - o for o in CLOSING_BET_OFFSETS if last - o >= 255]
    grades = ("S", "A", "B")
    for day in cb_days:
        for k in range(cb_per_day):
            grade = grades[min(k * 3 // cb_per_day, 2)] if cb_per_day >= 3 else grades[k % 3]
            params = {"target_grade": grade, "news_count": 3}
            plans.append(_Plan(next(pool), "closing_bet", day, params))

    legacy_days = [last - o for o in LEGACY_OFFSETS if last - o >= 65]
    for day in legacy_days:
        for _ in range(legacy_per_day):
            plans.append(_Plan(next(pool), "legacy_vcp", day, {}))
    return plans


def _design_vcp(
    rng: np.random.Generator, plan: _Plan, design: _Design
) -> tuple[FloatArray, float, float]:
    n = plan.params["contractions"]
    depths = [d * rng.uniform(0.92, 1.08) for d in _DEPTHS[n]]
    lengths = [int(rng.integers(9, 15)) for _ in range(n)]
    gain = rng.uniform(2.3, 3.2)
    up = _uptrend(rng, VCP_UPTREND_DAYS, gain, 0.012)
    segments = [up]
    high = last_peak = 0.0
    vol_levels = {2: (0.9, 0.32), 3: (0.95, 0.62, 0.3), 4: (1.0, 0.75, 0.52, 0.28)}[n]
    vmult = [np.exp(rng.normal(0, 0.2, up.size)) * (1 + 0.3 * (np.diff(up, prepend=up[0]) > 0))]
    for c in range(n):
        length = lengths[c]
        last_peak = high
        fall = round(length * rng.uniform(0.45, 0.6))
        trough = high + math.log(1 - depths[c])
        if c < n - 1:
            nxt = high + math.log(1 - rng.uniform(0.0, 0.012))
        else:
            nxt = high + math.log(1 - rng.uniform(0.006, 0.014))
        seg = np.concatenate([_smooth(high, trough, fall), _smooth(trough, nxt, length - fall)])
        segments.append(seg)
        vmult.append(vol_levels[c] * np.exp(rng.normal(0, 0.12, seg.size)))
        high = nxt
    # A setup ends on the last day of the last contraction (just under its peak, the pivot);
    # a breakout adds one day that closes above the pivot.
    if plan.params["pattern"] == "breakout":
        segments.append(np.array([last_peak + math.log(rng.uniform(1.02, 1.045))]))
        vmult.append(np.array([1.0]))
        plan.params["breakout_volume_ratio"] = float(rng.uniform(2.2, 3.0))  # × 50-day average
    path = np.concatenate(segments)
    first = plan.day - path.size + 1
    i = plan.row
    base_start = first + up.size - 1
    plan.params["base_start"] = base_start  # the uptrend's last day: the first peak
    plan.params["contraction_lengths"] = lengths
    sl = slice(base_start + 1, plan.day + 1)
    design.gap[i, sl] = rng.normal(0, 0.002, plan.day - base_start)
    design.up[i, sl] = np.abs(rng.normal(0, 0.0025, plan.day - base_start))
    design.down[i, sl] = np.abs(rng.normal(0, 0.0025, plan.day - base_start))
    design.up[i, first : base_start + 1] = np.abs(rng.normal(0, 0.006, base_start + 1 - first))
    design.down[i, first : base_start + 1] = np.abs(rng.normal(0, 0.006, base_start + 1 - first))
    design.up[i, base_start - 15 : base_start + 1] = 0.001  # the uptrend's last high is the peak
    if plan.params["pattern"] == "breakout":
        design.gap[i, plan.day] = 0.004
        design.up[i, plan.day] = 0.003
    design.vmult[i, first : plan.day + 1] = np.concatenate(vmult)
    # Foreign and institutional accumulation, strongest in the last 10 days.
    design.foreign_frac[i, first : plan.day + 1] = rng.normal(0.02, 0.03, path.size)
    design.inst_frac[i, first : plan.day + 1] = rng.normal(0.015, 0.025, path.size)
    design.foreign_frac[i, plan.day - 9 : plan.day + 1] = rng.uniform(0.04, 0.08, 10)
    design.inst_frac[i, plan.day - 9 : plan.day + 1] = rng.uniform(0.03, 0.06, 10)
    anchor = math.exp(rng.uniform(math.log(8_000), math.log(150_000)))
    return path, anchor, anchor * 3e5 * rng.uniform(0.5, 2.0)


def _design_closing_bet(
    rng: np.random.Generator, plan: _Plan, design: _Design
) -> tuple[FloatArray, float, float]:
    grade = plan.params["target_grade"]
    chg, tv, price = {
        "S": (
            rng.uniform(0.105, 0.145),
            rng.uniform(1.05e12, 1.6e12),
            rng.uniform(30_000, 200_000),
        ),
        "A": (rng.uniform(0.09, 0.14), rng.uniform(5.3e11, 9.5e11), rng.uniform(10_000, 150_000)),
        "B": (rng.uniform(0.06, 0.25), rng.uniform(1.1e11, 4.8e11), rng.uniform(3_000, 100_000)),
    }[grade]
    plan.params["planned_trading_value"] = tv
    up = _uptrend(rng, 230, rng.uniform(1.3, 1.8), 0.01)
    # The last 20 days rise steadily (so close > MA5 > MA10 > MA20), the 52-week high is yesterday.
    steady = up[-1] + np.cumsum(np.full(20, rng.uniform(0.003, 0.005)) + rng.normal(0, 0.0008, 20))
    path = np.concatenate([up, steady, [steady[-1] + math.log(1 + chg)]])
    first = plan.day - path.size + 1
    i, d = plan.row, plan.day
    design.up[i, d - 21 : d] = 0.002
    design.down[i, d - 21 : d] = 0.002
    # Today's candle: a small gap, a long body, a short upper wick.
    gap = rng.uniform(0.0, 0.02)
    o, c = 1 + gap, 1 + chg
    body = c - o
    h, low = c + rng.uniform(0.02, 0.1) * body, o - rng.uniform(0.02, 0.15) * body
    design.gap[i, d] = math.log(o)
    design.up[i, d] = math.log(h / c)
    design.down[i, d] = math.log(o / low)
    design.vmult[i, first:d] = np.exp(rng.normal(0, 0.2, d - first))
    design.foreign_frac[i, d - 4 : d + 1] = rng.uniform(0.03, 0.08, 5)
    design.inst_frac[i, d - 4 : d + 1] = rng.uniform(0.02, 0.06, 5)
    anchor = price * math.exp(-path[-2])  # the close before the big day is ≈ price
    return path, anchor, tv / rng.uniform(4.0, 8.0)


def _design_legacy(
    rng: np.random.Generator, plan: _Plan, design: _Design
) -> tuple[FloatArray, float, float]:
    calm = np.cumsum(rng.normal(0, 0.008, 40))
    calm -= calm[-1]
    swing = np.concatenate([_smooth(0.0, -0.10, 5), _smooth(-0.10, -0.01, 5)])
    tight = -0.01 + 0.012 * np.sin(np.arange(1, 11) * 1.3) * rng.uniform(0.6, 1.0)
    path = np.concatenate([calm, swing, tight])
    i, d = plan.row, plan.day
    first = d - path.size + 1
    design.up[i, d - 9 : d + 1] = 0.003
    design.down[i, d - 9 : d + 1] = 0.003
    design.up[i, d - 19 : d - 9] = 0.012
    design.down[i, d - 19 : d - 9] = 0.012
    vm = np.exp(rng.normal(0, 0.15, path.size))
    vm[-10:] *= 0.8
    design.vmult[i, first : d + 1] = vm
    design.foreign_frac[i, first : d + 1] = rng.uniform(0.2, 0.26, path.size)
    design.inst_frac[i, first : d + 1] = rng.uniform(0.13, 0.17, path.size)
    price = math.exp(rng.uniform(math.log(5_000), math.log(60_000)))
    return path, price, 1.05e6 * price


# --------------------------------------------------------------------------- helpers


def random_walk_market(seed: int, n_tickers: int, n_days: int) -> MarketWindow:
    """A market of pure noise (nothing planted), ``n_days`` trading days long, as a window."""
    days = krx_trading_days(DEFAULT_START, DEFAULT_START + timedelta(days=n_days * 2 + 30))
    if days.size < n_days:
        raise ValueError(f"n_days too large: {n_days}")
    end = days[n_days - 1].item()
    market = SampleMarket(seed=seed, n_tickers=n_tickers, start=DEFAULT_START, end=end, plant=False)
    return market.to_window(end, n_days)
