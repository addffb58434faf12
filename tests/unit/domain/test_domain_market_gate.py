"""Market Gate (§4.4) and /market-status (§2.1): indicator maths, every threshold at its
boundary, the gate body shape and its fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers.domain_windows import make_series
from pydantic import ValidationError

from krstock.domain.market_gate import (
    MarketGatePolicy,
    ema,
    gate_status,
    market_gate,
    market_status,
    rs_points,
    rsi_points,
    score_series,
    signals_allowed,
    simple_rsi,
    volume_points,
)

P = MarketGatePolicy()
UPDATED = "2025-06-17T15:30:00"


def test_rsi_and_ema_match_pandas_reference() -> None:
    rng = np.random.default_rng(7)
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, 120))
    s = pd.Series(close)
    delta = s.diff()
    gain = delta.where(delta > 0, 0.0).rolling(14).mean()
    loss = (-delta.where(delta < 0, 0.0)).rolling(14).mean()
    expected = 100 - 100 / (1 + gain / loss)
    assert simple_rsi(close, 14) == pytest.approx(expected.iloc[-1], rel=1e-12)
    assert np.allclose(ema(close, 12), s.ewm(span=12, adjust=False).mean().to_numpy())
    # 7 gains of 2 and 7 losses of 1 → RS 2 → RSI 66.67; all gains → 100; flat → undefined.
    steps = np.array([2.0, -1.0] * 7)
    assert simple_rsi(np.concatenate([[100.0], 100 + np.cumsum(steps)]), 14) == pytest.approx(
        200 / 3
    )
    assert simple_rsi(np.arange(20.0), 14) == 100.0
    assert math.isnan(simple_rsi(np.ones(20), 14))
    assert math.isnan(simple_rsi(np.ones(5), 14))


def test_rsi_bands_at_boundaries() -> None:
    cases = {
        29.99: 10,
        30.0: 20,
        39.99: 20,
        40.0: 15,
        49.99: 15,
        50.0: 25,
        70.0: 25,
        70.01: 0,
        100.0: 0,
        math.nan: 0,
    }
    assert {k: rsi_points(k, P) for k in cases} == cases


def test_volume_and_relative_strength_boundaries() -> None:
    assert [volume_points(r, P) for r in (0.8, 0.8001, 1.2, 1.2001, math.nan)] == [0, 10, 10, 15, 0]
    assert [rs_points(x, P) for x in (-2.0, -1.99, 0.0, 0.01, 2.0, 2.01)] == [0, 5, 5, 10, 10, 15]


def test_gate_status_boundaries() -> None:
    assert gate_status(70, 1449.99, P) == "GREEN"
    assert gate_status(85, 1450.0, P) == "RED"
    assert gate_status(69, 1300, P) == "YELLOW"
    assert gate_status(45, 1300, P) == "YELLOW"
    assert gate_status(44, 1300, P) == "RED"


def _trend(n: int, step: float, start: float = 100.0) -> np.ndarray:
    return start * (1 + step) ** np.arange(n)


def _falling(n: int) -> np.ndarray:
    return 1000.0 - 0.1 * np.arange(n) ** 2


def test_series_score_components() -> None:
    # Steady rise: aligned trend 25, RSI 100 → 0, MACD above signal 20, flat volume → 10.
    up = make_series("KS11", _trend(80, 0.005), volume=np.full(80, 1e6))
    s = score_series(up, P)
    assert (s.score, s.trend, s.macd_bullish, s.rsi) == (55, "정배열 강세", True, 100.0)
    assert s.signal == "NEUTRAL" and s.rs_vs_kospi is None
    # Fewer than 60 rows: 50 and NEUTRAL.
    short = score_series(make_series("KS11", _trend(59, 0.005)), P)
    assert (short.score, short.signal) == (50, "NEUTRAL")
    # Accelerating fall, volume spike: trend 0, RSI 0 → 10, MACD below signal, volume 15.
    vol = np.full(80, 1e6)
    vol[-1] = 3e6
    down = score_series(make_series("KS11", _falling(80), volume=vol), P)
    assert (down.score, down.signal, down.trend, down.macd_bullish) == (
        25,
        "BEARISH",
        "하락 추세",
        False,
    )
    # A geometric fall decelerates in won, so MACD turns up: 20 more points.
    geo = score_series(make_series("KS11", _trend(80, -0.005), volume=vol), P)
    assert geo.macd_bullish and geo.score == 45 and geo.signal == "NEUTRAL"
    # Sectors add RS against KOSPI's 20-day return (pp).
    sector = score_series(up, P, kospi_return_20d=0.0)
    assert sector.rs_vs_kospi == pytest.approx(((1.005**20) - 1) * 100)
    assert sector.score == 55 + 15


def _sectors(step_by_code: dict[str, float], n: int = 80) -> dict[str, object]:
    return {
        c: make_series(c, _trend(n, st), volume=np.full(n, 1e6)) for c, st in step_by_code.items()
    }


def test_gate_body_shape_reasons_and_order() -> None:
    # KOSPI with a pull-back on the last days: trend aligned, RSI in 50–70, MACD up.
    base = [*_trend(78, 0.004), 0.0, 0.0]
    base[-2] = base[-3] * 1.002
    base[-1] = base[-2] * 0.999
    vol = np.full(80, 1e6)
    vol[-1] = 1.5e6
    kospi = make_series("KS11", base, volume=vol)
    k = score_series(kospi, P)
    sectors = _sectors({"069500": 0.004, "091160": 0.01, "305720": -0.01, "091170": 0.0})
    body = market_gate(
        kospi=kospi,
        kosdaq=make_series("KQ11", _trend(80, 0.001)),
        usd_krw=1_420.0,
        sectors=sectors,
        updated_at=UPDATED,
    )  # type: ignore[arg-type]
    assert set(body) == {
        "status",
        "score",
        "label",
        "reasons",
        "sectors",
        "metrics",
        "updated_at",
        "kospi_close",
        "kospi_change_pct",
        "kosdaq_close",
        "kosdaq_change_pct",
    }
    assert body["score"] == k.score
    assert body["status"] == gate_status(k.score, 1420, P)
    assert body["label"] == {"GREEN": "BULLISH", "RED": "BEARISH"}.get(body["status"], "NEUTRAL")
    reasons = body["reasons"]
    assert reasons[0] == "⚠️ 환율 경계 (1420원)"
    assert reasons[1].startswith(f"RSI({k.rsi:.1f}), MACD: ")
    best, worst = body["sectors"][0], body["sectors"][-1]
    assert best["name"] == "반도체"
    assert reasons[-2] == f"🔥 강세: 반도체 ({best['score']})"
    assert reasons[-1] == f"❄️ 약세: {worst['name']} ({worst['score']})"
    if k.score >= 70:
        assert reasons[2] == f"코스피 {k.trend}"
    names = [s["name"] for s in body["sectors"]]
    assert names[0] == "반도체" and len(names) == 4
    scores = [s["score"] for s in body["sectors"]]
    assert scores == sorted(scores, reverse=True)
    assert all(s["signal"] in {"bullish", "bearish", "neutral"} for s in body["sectors"])
    assert body["sectors"][0]["change_pct"] == round((1.01 - 1) * 100, 2)
    m = body["metrics"]
    assert set(m) == {"usd_krw", "kospi", "kospi_change_pct", "kosdaq", "kosdaq_change_pct", "rsi"}
    assert body["kospi_close"] == m["kospi"] == pytest.approx(base[-1])
    assert body["kosdaq_change_pct"] == m["kosdaq_change_pct"] == pytest.approx(0.1)
    assert m["usd_krw"] == 1420.0


def test_gate_fx_force_red_default_and_weak_market_reason() -> None:
    up = make_series("KS11", _trend(80, 0.004), volume=np.full(80, 1e6))
    strong = market_gate(kospi=up, kosdaq=None, usd_krw=1_450.0, sectors={}, updated_at=UPDATED)
    assert strong["status"] == "RED" and strong["label"] == "BEARISH"
    missing = market_gate(kospi=up, kosdaq=None, usd_krw=None, sectors={}, updated_at=UPDATED)
    assert missing["metrics"]["usd_krw"] == 1350.0
    assert not any("환율" in r for r in missing["reasons"])
    assert missing["kosdaq_close"] is None and missing["metrics"]["kosdaq"] is None
    down = make_series("KS11", _falling(80), volume=np.full(80, 1e6))
    weak = market_gate(
        kospi=down,
        kosdaq=None,
        usd_krw=make_series("USDKRW", [1300.0, 1399.99]),
        sectors={},
        updated_at=UPDATED,
    )
    assert weak["status"] == "RED" and weak["score"] < 40
    assert "시장 하락추세. 보수적 접근 권장." in weak["reasons"]
    assert not any("환율" in r for r in weak["reasons"])


def test_gate_kodex_stands_in_and_data_failure() -> None:
    short_kospi = make_series("KS11", _trend(59, 0.004))
    sectors = _sectors({"069500": -0.004})
    body = market_gate(
        kospi=short_kospi,
        kosdaq=None,
        usd_krw=1300.0,
        sectors=sectors,  # type: ignore[arg-type]
        updated_at=UPDATED,
    )
    kodex = score_series(sectors["069500"], P)  # type: ignore[arg-type]
    assert body["score"] == kodex.score and body["kospi_close"] == pytest.approx(kodex.price)
    failed = market_gate(
        kospi=short_kospi, kosdaq=None, usd_krw=None, sectors={}, updated_at=UPDATED
    )
    assert (failed["status"], failed["score"], failed["reasons"]) == (
        "YELLOW",
        50,
        ["데이터 소스 오류"],
    )
    assert failed["sectors"] == [] and failed["updated_at"] == UPDATED


def test_nan_metrics_become_none() -> None:
    close = _trend(80, 0.003)
    close[-1] = np.nan  # missing last value: the series is read without it
    body = market_gate(
        kospi=make_series("KS11", close),
        kosdaq=make_series("KQ11", [np.nan]),
        usd_krw=float("nan"),
        sectors={},
        updated_at=UPDATED,
    )
    assert body["metrics"]["usd_krw"] == 1350.0
    assert body["kosdaq_close"] is None
    assert body["kospi_close"] == pytest.approx(close[-2])


def test_block_signals_on_red_option() -> None:
    assert signals_allowed({"status": "RED"}, P)  # the monolith did not block
    blocking = MarketGatePolicy(block_signals_on_red=True)
    assert not signals_allowed({"status": "RED"}, blocking)
    assert signals_allowed({"status": "YELLOW"}, blocking)


def test_market_status_rules() -> None:
    assert market_status(make_series("069500", _trend(199, 0.001))) == {
        "status": "NEUTRAL",
        "reason": "Insufficient data",
    }
    on = market_status(make_series("069500", _trend(220, 0.001)))
    assert (on["status"], on["score"], on["symbol"], on["name"]) == (
        "RISK_ON",
        80,
        "069500",
        "KODEX 200",
    )
    assert on["date"] == str(make_series("x", _trend(220, 0.001)).dates[-1])
    off = market_status(make_series("069500", _trend(220, -0.001)))
    assert (off["status"], off["score"]) == ("RISK_OFF", 20)
    # Rising for long, then a sharp drop below MA200 while MA20 is still above MA50 → NEUTRAL.
    rise = _trend(219, 0.003)
    mixed = [*rise, rise[-1] * 0.5]
    n = market_status(make_series("069500", mixed))
    assert (n["status"], n["score"]) == ("NEUTRAL", 50)
    assert n["ma200"] == pytest.approx(np.mean(mixed[-200:]))
    assert market_status(None)["status"] == "UNKNOWN"


def test_policy_validation() -> None:
    with pytest.raises(ValidationError):
        MarketGatePolicy(fx_warning=1500, fx_danger=1450)
    with pytest.raises(ValidationError):
        MarketGatePolicy(macd_fast=30)
    with pytest.raises(ValidationError):
        MarketGatePolicy(colour="red")  # type: ignore[call-arg]


def test_fallback_body_when_the_enhanced_gate_fails() -> None:
    from krstock.domain.market_gate import market_gate_fallback

    assert market_gate_fallback(make_series("069500", _trend(200, 0.001)), "boom") is None
    assert market_gate_fallback(None, "boom") is None
    up = market_gate_fallback(make_series("069500", _trend(201, 0.001)), "boom")
    assert up == {"status": "RISK_ON", "score": 80, "sectors": [], "error": "Enhanced failed: boom"}
    down = market_gate_fallback(make_series("069500", _trend(201, -0.001)), "x")
    assert down is not None and (down["status"], down["score"]) == ("RISK_OFF", 20)
