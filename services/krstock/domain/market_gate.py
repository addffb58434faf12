"""Market Gate (monolith §4.4) and the simple market status (§2.1 ``/market-status``).

Pure: ``SeriesWindow`` objects in, the ``/api/kr/market-gate`` body out. Scores per series:
trend 25 + RSI 25 + MACD 20 + volume 15 (+ relative strength 15 for sectors only, so the KOSPI
score tops out at 85). The gate: RED when USD/KRW ≥ 1,450, else GREEN ≥ 70, YELLOW ≥ 45, RED.

RSI bands (decided from "50–70 / 40–50 / 30–40 / below 30 / above 70"): 50 ≤ RSI ≤ 70 → 25,
40 ≤ RSI < 50 → 15, 30 ≤ RSI < 40 → 20, RSI < 30 → 10, RSI > 70 → 0; a flat series (RSI
undefined) scores 0. RSI uses simple 14-row means of gains and losses; MACD uses 12/26/9 EMAs
(``adjust=False``); the "MA"s are simple means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from krstock.domain.market import FloatArray, SeriesWindow

_STRICT = ConfigDict(extra="forbid", frozen=True)

Signal = Literal["BULLISH", "BEARISH", "NEUTRAL"]
GateStatus = Literal["GREEN", "YELLOW", "RED"]


class SectorSpec(BaseModel):
    model_config = _STRICT
    code: str = Field(pattern=r"^[0-9A-Z]{6}$", description="6-character KRX code of the ETF.")
    name: str = Field(min_length=1, description="Display name.")


MONOLITH_SECTORS: tuple[SectorSpec, ...] = (
    SectorSpec(code="069500", name="KOSPI200"),
    SectorSpec(code="091160", name="반도체"),
    SectorSpec(code="305720", name="2차전지"),
    SectorSpec(code="091170", name="자동차"),
    SectorSpec(code="102780", name="IT"),
    SectorSpec(code="102960", name="은행"),
    SectorSpec(code="117680", name="철강"),
    SectorSpec(code="102970", name="증권"),
)


class MarketGatePolicy(BaseModel):
    """Every number of ``market_gate.py`` (MarketGateConfig) and of ``/market-status``."""

    model_config = _STRICT

    min_rows: int = Field(default=60, ge=2, description="Rows needed for a score (else 50).")
    ma_short: int = Field(default=20, ge=2, description="Short trend MA (rows).")
    ma_long: int = Field(default=60, ge=2, description="Long trend MA (rows).")
    trend_aligned_points: int = Field(default=25, ge=0, description="close > MA20 > MA60.")
    trend_above_short_points: int = Field(default=15, ge=0, description="close > MA20 only.")
    trend_above_long_points: int = Field(default=10, ge=0, description="close > MA60 only.")
    rsi_period: int = Field(default=14, ge=2, description="RSI window (simple means).")
    rsi_points_50_70: int = Field(default=25, ge=0, description="50 ≤ RSI ≤ 70.")
    rsi_points_40_50: int = Field(default=15, ge=0, description="40 ≤ RSI < 50.")
    rsi_points_30_40: int = Field(default=20, ge=0, description="30 ≤ RSI < 40.")
    rsi_points_below_30: int = Field(default=10, ge=0, description="RSI < 30.")
    rsi_points_above_70: int = Field(default=0, ge=0, description="RSI > 70.")
    macd_fast: int = Field(default=12, ge=1, description="MACD fast EMA span.")
    macd_slow: int = Field(default=26, ge=2, description="MACD slow EMA span.")
    macd_signal: int = Field(default=9, ge=1, description="MACD signal EMA span.")
    macd_points: int = Field(default=20, ge=0, description="MACD line > signal line.")
    volume_avg_rows: int = Field(default=20, ge=1, description="Volume average window.")
    volume_high_ratio: float = Field(default=1.2, gt=0, description="Ratio above → high points.")
    volume_high_points: int = Field(default=15, ge=0, description="Volume ratio > 1.2.")
    volume_mid_ratio: float = Field(default=0.8, gt=0, description="Ratio above → mid points.")
    volume_mid_points: int = Field(default=10, ge=0, description="Volume ratio > 0.8.")
    rs_rows: int = Field(default=20, ge=1, description="Return window for relative strength.")
    rs_strong_pp: float = Field(default=2.0, description="RS > this (pp) → strong points.")
    rs_strong_points: int = Field(default=15, ge=0, description="Strong RS points.")
    rs_positive_pp: float = Field(default=0.0, description="RS > this → positive points.")
    rs_positive_points: int = Field(default=10, ge=0, description="Positive RS points.")
    rs_weak_pp: float = Field(default=-2.0, description="RS > this → weak points.")
    rs_weak_points: int = Field(default=5, ge=0, description="Weak RS points.")
    bullish_min: float = Field(default=70, description="Series signal BULLISH at ≥ this.")
    bearish_below: float = Field(default=40, description="Series signal BEARISH below this.")
    green_min: float = Field(default=70, description="Gate GREEN when KOSPI score ≥ this.")
    yellow_min: float = Field(default=45, description="Gate YELLOW when KOSPI score ≥ this.")
    fx_safe: float = Field(default=1_350, gt=0, description="USD/KRW safe level (declared).")
    fx_warning: float = Field(default=1_400, gt=0, description="USD/KRW warning reason at ≥.")
    fx_danger: float = Field(default=1_450, gt=0, description="USD/KRW forces RED at ≥.")
    fx_default: float = Field(default=1_350, gt=0, description="Used when the rate is missing.")
    sectors: tuple[SectorSpec, ...] = Field(
        default=MONOLITH_SECTORS, description="Sector series (the first is the benchmark)."
    )
    kospi_proxy_code: str = Field(
        default="069500", description="Stands in for KOSPI with fewer than min_rows rows."
    )
    block_signals_on_red: bool = Field(
        default=False, description="Suppress new signals on RED (the monolith did not)."
    )
    status_ma_fast: int = Field(default=20, ge=1, description="/market-status fast MA.")
    status_ma_mid: int = Field(default=50, ge=1, description="/market-status middle MA.")
    status_ma_slow: int = Field(default=200, ge=1, description="/market-status slow MA.")
    status_risk_on_score: int = Field(default=80, description="RISK_ON score.")
    status_risk_off_score: int = Field(default=20, description="RISK_OFF score.")
    status_neutral_score: int = Field(default=50, description="NEUTRAL score.")

    @model_validator(mode="after")
    def _check(self) -> MarketGatePolicy:
        if not self.fx_warning <= self.fx_danger:
            raise ValueError("fx_warning must not exceed fx_danger")
        if not self.yellow_min <= self.green_min:
            raise ValueError("yellow_min must not exceed green_min")
        if self.macd_fast >= self.macd_slow:
            raise ValueError("macd_fast must be shorter than macd_slow")
        return self


# --------------------------------------------------------------------------- indicators


def simple_rsi(close: FloatArray, period: int) -> float:
    """RSI of the last row from simple means of the last ``period`` gains and losses."""
    if len(close) < period + 1:
        return math.nan
    delta = np.diff(close[-(period + 1) :])
    gain = float(np.mean(np.where(delta > 0, delta, 0.0)))
    loss = float(np.mean(np.where(delta < 0, -delta, 0.0)))
    if loss == 0:
        return math.nan if gain == 0 else 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


def ema(values: FloatArray, span: int) -> FloatArray:
    """Exponential moving average, ``adjust=False`` (pandas ``ewm(span).mean()`` recursion)."""
    alpha = 2.0 / (span + 1.0)
    out = np.empty_like(values, dtype=np.float64)
    acc = float(values[0])
    for i, v in enumerate(values):
        acc = float(v) if i == 0 else alpha * float(v) + (1 - alpha) * acc
        out[i] = acc
    return out


def _pct(a: float, b: float) -> float:
    return (a / b - 1.0) * 100.0 if b else math.nan


def rsi_points(rsi: float, policy: MarketGatePolicy) -> int:
    """25 / 15 / 20 / 10 / 0 for 50–70 / 40–50 / 30–40 / < 30 / > 70 (NaN → 0)."""
    if 50 <= rsi <= 70:
        return policy.rsi_points_50_70
    if 40 <= rsi < 50:
        return policy.rsi_points_40_50
    if 30 <= rsi < 40:
        return policy.rsi_points_30_40
    if rsi < 30:
        return policy.rsi_points_below_30
    if rsi > 70:
        return policy.rsi_points_above_70
    return 0


def volume_points(ratio: float, policy: MarketGatePolicy) -> int:
    """15 when last volume ÷ its 20-row average > 1.2, 10 when > 0.8, else 0."""
    if ratio > policy.volume_high_ratio:
        return policy.volume_high_points
    if ratio > policy.volume_mid_ratio:
        return policy.volume_mid_points
    return 0


def rs_points(rs_pp: float, policy: MarketGatePolicy) -> int:
    """15 / 10 / 5 when the 20-day return beats KOSPI's by > 2 / > 0 / > −2 pp."""
    if rs_pp > policy.rs_strong_pp:
        return policy.rs_strong_points
    if rs_pp > policy.rs_positive_pp:
        return policy.rs_positive_points
    if rs_pp > policy.rs_weak_pp:
        return policy.rs_weak_points
    return 0


def gate_status(kospi_score: float, usd_krw: float, policy: MarketGatePolicy) -> GateStatus:
    """RED at USD/KRW ≥ 1,450; else GREEN ≥ 70, YELLOW ≥ 45, else RED."""
    if usd_krw >= policy.fx_danger:
        return "RED"
    if kospi_score >= policy.green_min:
        return "GREEN"
    if kospi_score >= policy.yellow_min:
        return "YELLOW"
    return "RED"


@dataclass(frozen=True)
class SeriesScore:
    """``calculate_enhanced_score`` for one series."""

    code: str
    score: int
    signal: Signal
    price: float
    change_1d: float
    rsi: float
    macd_bullish: bool
    trend: str
    return_20d: float
    rs_vs_kospi: float | None


def _clean(series: SeriesWindow) -> tuple[FloatArray, FloatArray | None]:
    keep = ~np.isnan(series.close)
    vol = None if series.volume is None else series.volume[keep]
    return series.close[keep], vol


def score_series(
    series: SeriesWindow,
    policy: MarketGatePolicy,
    kospi_return_20d: float | None = None,
) -> SeriesScore:
    """Trend, RSI, MACD, volume (and RS when ``kospi_return_20d`` is given: sectors only)."""
    close, volume = _clean(series)
    price = float(close[-1]) if len(close) else math.nan
    change = _pct(close[-1], close[-2]) if len(close) >= 2 else math.nan
    ret = _pct(close[-1], close[-1 - policy.rs_rows]) if len(close) > policy.rs_rows else math.nan
    if len(close) < policy.min_rows:
        return SeriesScore(
            series.code, 50, "NEUTRAL", price, change, math.nan, False, "N/A", ret, None
        )
    score = 0
    ma_s = float(np.mean(close[-policy.ma_short :]))
    ma_l = float(np.mean(close[-policy.ma_long :]))
    if price > ma_s > ma_l:
        score += policy.trend_aligned_points
        trend = "정배열 강세"
    elif price > ma_s:
        score += policy.trend_above_short_points
        trend = "단기 상승"
    elif price > ma_l:
        score += policy.trend_above_long_points
        trend = "중기 지지"
    else:
        trend = "하락 추세"
    rsi = simple_rsi(close, policy.rsi_period)
    score += rsi_points(rsi, policy)
    macd = ema(close, policy.macd_fast) - ema(close, policy.macd_slow)
    macd_bullish = bool(macd[-1] > ema(macd, policy.macd_signal)[-1])
    if macd_bullish:
        score += policy.macd_points
    if volume is not None and len(volume) >= policy.volume_avg_rows:
        avg = float(np.mean(volume[-policy.volume_avg_rows :]))
        score += volume_points(float(volume[-1]) / avg if avg > 0 else math.nan, policy)
    rs: float | None = None
    if kospi_return_20d is not None and math.isfinite(kospi_return_20d) and math.isfinite(ret):
        rs = ret - kospi_return_20d
        score += rs_points(rs, policy)
    signal: Signal = (
        "BULLISH"
        if score >= policy.bullish_min
        else "BEARISH"
        if score < policy.bearish_below
        else "NEUTRAL"
    )
    return SeriesScore(series.code, score, signal, price, change, rsi, macd_bullish, trend, ret, rs)


# --------------------------------------------------------------------------- the gate


def _num(x: float | None) -> float | None:
    """JSON-safe number: NaN and ±Inf become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _last(series: SeriesWindow | float | None) -> float | None:
    if series is None:
        return None
    if isinstance(series, int | float):
        return float(series)
    close, _ = _clean(series)
    return float(close[-1]) if len(close) else None


def _data_error_body(reason: str, updated_at: str) -> dict[str, Any]:
    return {
        "status": "YELLOW",
        "score": 50,
        "label": "NEUTRAL",
        "reasons": [reason],
        "sectors": [],
        "metrics": {},
        "updated_at": updated_at,
        "kospi_close": None,
        "kospi_change_pct": None,
        "kosdaq_close": None,
        "kosdaq_change_pct": None,
    }


def sector_scores(
    sectors: Mapping[str, SeriesWindow], kospi_return_20d: float, policy: MarketGatePolicy
) -> list[dict[str, Any]]:
    """The sector list of ``run_kr_market_gate`` sorted by score (missing series are skipped)."""
    out: list[dict[str, Any]] = []
    for spec in policy.sectors:
        series = sectors.get(spec.code)
        if series is None or not len(series.close):
            continue
        s = score_series(series, policy, kospi_return_20d)
        out.append(
            {
                "name": spec.name,
                "ticker": spec.code,
                "score": s.score,
                "signal": s.signal,
                "price": _num(s.price),
                "change_1d": _num(s.change_1d),
                "rsi": _num(s.rsi),
                "rs_vs_kospi": _num(s.rs_vs_kospi),
            }
        )
    out.sort(key=lambda d: -d["score"])
    return out


def market_gate(
    *,
    kospi: SeriesWindow | None,
    kosdaq: SeriesWindow | None,
    usd_krw: SeriesWindow | float | None,
    sectors: Mapping[str, SeriesWindow],
    updated_at: str,
    policy: MarketGatePolicy | None = None,
) -> dict[str, Any]:
    """The ``/api/kr/market-gate`` body (``sectors`` maps ETF code → series)."""
    policy = policy or MarketGatePolicy()
    index = kospi
    if index is None or int(np.sum(~np.isnan(index.close))) < policy.min_rows:
        index = sectors.get(policy.kospi_proxy_code)  # KODEX 200 stands in
    if index is None or int(np.sum(~np.isnan(index.close))) < policy.min_rows:
        return _data_error_body("데이터 소스 오류", updated_at)
    main = score_series(index, policy)
    fx = _last(usd_krw)
    fx = policy.fx_default if fx is None or not math.isfinite(fx) else fx
    sector_list = sector_scores(sectors, main.return_20d, policy)

    score = main.score
    status = gate_status(score, fx, policy)
    label = {"GREEN": "BULLISH", "RED": "BEARISH"}.get(status, "NEUTRAL")

    reasons = []
    if fx >= policy.fx_warning:
        reasons.append(f"⚠️ 환율 경계 ({fx:.0f}원)")
    reasons.append(f"RSI({main.rsi:.1f}), MACD: {'상승' if main.macd_bullish else '하락'}")
    if score >= policy.bullish_min:
        reasons.append(f"코스피 {main.trend}")
    elif score < policy.bearish_below:
        reasons.append("시장 하락추세. 보수적 접근 권장.")
    if sector_list:
        best, worst = sector_list[0], sector_list[-1]
        reasons.append(f"🔥 강세: {best['name']} ({best['score']})")
        reasons.append(f"❄️ 약세: {worst['name']} ({worst['score']})")

    kq = score_series(kosdaq, policy) if kosdaq is not None and len(kosdaq.close) else None
    metrics = {
        "usd_krw": _num(fx),
        "kospi": _num(main.price),
        "kospi_change_pct": _num(main.change_1d),
        "kosdaq": _num(kq.price) if kq else None,
        "kosdaq_change_pct": _num(kq.change_1d) if kq else None,
        "rsi": _num(main.rsi),
    }
    return {
        "status": status,
        "score": int(score),
        "label": label,
        "reasons": reasons,
        "sectors": [
            {
                "name": s["name"],
                "signal": str(s["signal"]).lower(),
                "change_pct": round(s["change_1d"], 2) if s["change_1d"] is not None else None,
                "score": int(s["score"]),
            }
            for s in sector_list
        ],
        "metrics": metrics,
        "updated_at": updated_at,
        "kospi_close": metrics["kospi"],
        "kospi_change_pct": metrics["kospi_change_pct"],
        "kosdaq_close": metrics["kosdaq"],
        "kosdaq_change_pct": metrics["kosdaq_change_pct"],
    }


def signals_allowed(gate_body: Mapping[str, Any], policy: MarketGatePolicy) -> bool:
    """False only when ``block_signals_on_red`` is on and the gate is RED."""
    return not (policy.block_signals_on_red and gate_body.get("status") == "RED")


def market_status(
    proxy: SeriesWindow | None,
    policy: MarketGatePolicy | None = None,
    *,
    symbol: str = "069500",
    name: str = "KODEX 200",
) -> dict[str, Any]:
    """``/api/kr/market-status``: RISK_ON 80 / RISK_OFF 20 / NEUTRAL 50 from MA20/50/200.

    ``proxy`` is KODEX 200's closes (or 005930 "Samsung Elec" when the caller has no 069500).
    Returns ``{status: "UNKNOWN", reason}`` when there is no proxy (the route maps it to 404).
    """
    policy = policy or MarketGatePolicy()
    if proxy is None:
        return {"status": "UNKNOWN", "reason": "Market proxy data not found"}
    close, _ = _clean(proxy)
    if len(close) < policy.status_ma_slow:
        return {"status": "NEUTRAL", "reason": "Insufficient data"}
    price = float(close[-1])
    ma_fast = float(np.mean(close[-policy.status_ma_fast :]))
    ma_mid = float(np.mean(close[-policy.status_ma_mid :]))
    ma_slow = float(np.mean(close[-policy.status_ma_slow :]))
    if price > ma_slow and ma_fast > ma_mid:
        status, score = "RISK_ON", policy.status_risk_on_score
    elif price < ma_slow and ma_fast < ma_mid:
        status, score = "RISK_OFF", policy.status_risk_off_score
    else:
        status, score = "NEUTRAL", policy.status_neutral_score
    dates = proxy.dates[~np.isnan(proxy.close)]
    return {
        "status": status,
        "score": int(score),
        "current_price": price,
        "ma200": ma_slow,
        "date": str(np.datetime_as_string(dates[-1].astype("datetime64[D]"))),
        "symbol": symbol,
        "name": name,
    }


def market_gate_fallback(
    proxy: SeriesWindow | None,
    error: str,
    policy: MarketGatePolicy | None = None,
) -> dict[str, Any] | None:
    """The body the route served when the enhanced gate threw: from KODEX 200 closes with more
    than 200 rows, RISK_ON 80 when the price is above MA200, else RISK_OFF 20. None when the
    proxy is too short (the route then answers 500 ``{error, sectors: []}``)."""
    policy = policy or MarketGatePolicy()
    if proxy is None:
        return None
    close, _ = _clean(proxy)
    if len(close) <= policy.status_ma_slow:
        return None
    above = float(close[-1]) > float(np.mean(close[-policy.status_ma_slow :]))
    return {
        "status": "RISK_ON" if above else "RISK_OFF",
        "score": policy.status_risk_on_score if above else policy.status_risk_off_score,
        "sectors": [],
        "error": f"Enhanced failed: {error}",
    }
