"""Closing-bet engine on synthetic windows: thresholds at their boundaries, the full pipeline,
the reachable maximum (lessons item 2) and the output shape."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.domain_windows import make_window
from pydantic import ValidationError

from krstock.domain.closing_bet import (
    ClosingBetPolicy,
    candle_scores,
    chart_scores,
    day_features,
    grades,
    half_kelly,
    reward_risk_ratio,
    run_closing_bet,
    select_candidates,
    size_position,
    volume_scores,
    within_loss_limit,
)

TRILLION = 1_000_000_000_000


def test_volume_tiers_at_boundaries_in_won() -> None:
    p = ClosingBetPolicy()
    values = [
        99_999_999_999,
        100_000_000_000,
        100_000_000_001,
        499_999_999_999,
        500_000_000_000,
        500_000_000_001,
        999_999_999_999,
        1_000_000_000_000,
        1_000_000_000_001,
        50_000_000_000,
        np.nan,
    ]
    assert volume_scores(values, p).tolist() == [0, 1, 1, 1, 2, 2, 2, 3, 3, 0, 0]


def _grade(total: int, tv: float, change: float, news: int = 1, volume: int = 1) -> str:
    return str(grades([total], [tv], [change], [news], [volume], ClosingBetPolicy())[0])


def test_grade_table_boundaries() -> None:
    # S: 10 points, 1조, 10–20% inclusive.
    assert _grade(10, TRILLION, 10.0) == "S"
    assert _grade(10, TRILLION, 20.0) == "S"
    assert _grade(9, TRILLION, 15.0) == "A"  # A: 8 points, 5천억, 8–15
    assert _grade(10, TRILLION - 1, 15.0) == "A"
    assert _grade(10, TRILLION, 9.99) == "A"
    assert _grade(10, TRILLION, 20.01) == "B"
    # A boundaries.
    assert _grade(8, 500_000_000_000, 8.0) == "A"
    assert _grade(8, 500_000_000_000, 15.0) == "A"
    assert _grade(8, 499_999_999_999, 10.0) == "B"
    assert _grade(7, 500_000_000_000, 10.0) == "B"
    assert _grade(8, 500_000_000_000, 7.99) == "B"
    assert _grade(8, 500_000_000_000, 15.01) == "B"
    # B: 6 points and 1천억, change not checked.
    assert _grade(6, 100_000_000_000, 29.9) == "B"
    assert _grade(6, 99_999_999_999, 29.9) == "C"
    assert _grade(5, 100_000_000_000, 10.0) == "C"
    # Mandatory gate: news ≥ 1 and volume ≥ 1, whatever the total.
    assert _grade(12, TRILLION, 15.0, news=0) == "C"
    assert _grade(12, TRILLION, 15.0, volume=0) == "C"


def test_position_sizing_caps_and_multipliers() -> None:
    p = ClosingBetPolicy()
    s = size_position(10_000, "S", p)  # 375,000 ÷ 0.03 = 12.5M < 25M cap
    assert (s.quantity, s.position_size, s.r_multiplier) == (1250, 12_500_000, 1.5)
    a = size_position(10_000, "A", p)
    assert a.quantity == 833
    capped = size_position(10_000, "S", p.model_copy(update={"stop_loss_pct": 0.01}))
    assert capped.position_size == 25_000_000  # 37.5M capped at 50% of capital
    cash = size_position(10_000, "S", p, available_cash=1_000_000)
    assert cash.quantity == 100
    assert size_position(10_000, "C", p).quantity == 0
    with pytest.raises(ValueError):
        size_position(0, "B", p)


def test_candle_body_and_wick_boundaries() -> None:
    p = ClosingBetPolicy()
    # body 600 of range 1000 (0.6), wick 180/600 = 0.3 → strong.
    o, c, lo = [1000.0] * 5, [1600.0] * 5, [780.0] * 5
    h = [1780.0, 1781.0, 1900.0, 1901.0, 2100.0]
    r = candle_scores(o, h, lo, c, p)
    # 1781: wick 0.3017 (not strong) but body 0.5994 ≥ 0.5 and wick ≤ 0.5 → normal → 1.
    # 1900: wick 0.5 → normal if body ≥ 0.5: 600/1120 = 0.536 → 1; not "long" (needs > 0.5).
    # 1901: wick 0.5017 → 0 and upper_wick_long.
    assert r.score.tolist() == [1, 1, 1, 0, 0]
    assert r.upper_wick_long.tolist() == [False, False, False, True, True]
    # Bearish, doji and missing candles never score.
    bad = candle_scores(
        [1000, 1000, np.nan, 0],
        [1100, 1000, 1100, 1100],
        [900, 1000, 900, 900],
        [950, 1000, 1050, 1050],
        p,
    )
    assert bad.score.tolist() == [0, 0, 0, 0]
    assert not bad.upper_wick_long.any()


def _universe_window(
    closes_today: list[float], prev: list[float], tv: list[float], names: list[str] | None = None
) -> object:
    n = len(closes_today)
    close = np.column_stack([np.array(prev), np.array(closes_today)])
    volume = np.ones((n, 2))
    trading_value = np.column_stack([np.ones(n), np.array(tv)])
    return make_window(close, volume=volume, trading_value=trading_value, names=names)


def test_universe_filter_boundaries() -> None:
    p = ClosingBetPolicy()
    ok_tv = 50_000_000_000
    w = _universe_window(
        closes_today=[
            105_000,
            104_990,
            129_900,
            129_910,
            1_050,
            999,
            500_000,
            525_001,
            105_000,
            105_000,
        ],
        prev=[
            100_000,
            100_000,
            100_000,
            100_000,
            1_000,
            950,
            476_190.48,
            500_001,
            100_000,
            100_000,
        ],
        tv=[ok_tv] * 8 + [ok_tv - 1, ok_tv],
    )
    f = day_features(w, p)  # type: ignore[arg-type]
    assert f.change_pct[:4].tolist() == [5.0, 4.99, 29.9, 29.91]
    assert f.universe.tolist() == [True, False, True, False, True, False, True, False, False, True]


def test_universe_excludes_names_like_the_original() -> None:
    p = ClosingBetPolicy()
    names = [
        "삼성전자",
        "삼성전자우",
        "현대차2우B",
        "KODEX 레버리지",
        "하나스팩10호",
        "맥쿼리인프라리츠",
        "TIGER ETF",
        "우리금융지주",
    ]
    n = len(names)
    w = _universe_window([110_000] * n, [100_000] * n, [60_000_000_000] * n, names=names)
    universe = day_features(w, p).universe.tolist()  # type: ignore[arg-type]
    assert universe == [True, False, False, False, False, False, False, True]


def _rising(n_tickers: int, days: int = 260, drift: float = 0.0005) -> np.ndarray:
    base = 10_000 * (1 + drift) ** np.arange(days)
    return np.tile(base, (n_tickers, 1))


def _perfect_window(jumps: list[float], tv_today: list[float], markets: list[str] | None = None):
    """Tickers drifting up slowly, then jumping today with a full-body candle."""
    n = len(jumps)
    close = _rising(n)
    open_ = close.copy()
    high = close.copy()
    low = close.copy()
    prev = close[:, -2]
    today = np.round(prev * (1 + np.array(jumps) / 100))
    close[:, -1] = today
    open_[:, -1] = prev
    high[:, -1] = today
    low[:, -1] = prev
    tv = close * 1_000_000
    tv[:, -1] = tv_today
    flows = np.full(close.shape, 10_000.0)
    return make_window(
        close,
        open_=open_,
        high=high,
        low=low,
        trading_value=tv,
        foreign=flows,
        inst=flows,
        markets=markets,
    )


def test_maximum_score_twelve_is_reachable() -> None:
    w = _perfect_window([12.0], [TRILLION])
    ticker = str(w.tickers[0])
    news = {ticker: [{"title": "수주", "source": "연합뉴스", "published_at": "", "url": "u"}] * 3}
    llm = {ticker: {"score": 3, "reason": "확실한 호재"}}
    fixed = ClosingBetPolicy(consolidation_excludes_today=True, breakout_excludes_today=True)
    run = run_closing_bet(w, fixed, news=news, llm=llm)
    sig = run.signals[0]
    assert sig["score"]["total"] == 12
    assert sig["grade"] == "S"
    assert sig["score"]["llm_reason"] == "확실한 호재"
    assert sig["is_breakout"] and sig["is_new_high"]
    # The original rule compares the close with a 20-row high that includes today's high:
    # consolidation cannot score on consistent OHLC, so the faithful maximum is 11.
    orig = run_closing_bet(w, ClosingBetPolicy(), news=news, llm=llm).signals[0]
    assert orig["score"]["consolidation"] == 0
    assert orig["score"]["total"] == 11
    assert not orig["is_breakout"]


def test_chart_needs_twenty_rows_and_aligned_averages() -> None:
    p = ClosingBetPolicy()
    short = _perfect_window([12.0], [TRILLION]).columns(slice(240, 260))
    assert chart_scores(short, p).score.tolist() == [2]
    shorter = _perfect_window([12.0], [TRILLION]).columns(slice(241, 260))
    assert chart_scores(shorter, p).score.tolist() == [0]
    falling = make_window(_rising(1, drift=-0.001))
    res = chart_scores(falling, p)
    assert res.score.tolist() == [0] and not res.ma_aligned[0] and not res.new_high[0]


def test_pipeline_sorts_caps_and_emits_both_shapes() -> None:
    jumps = [12.0, 9.0, 25.0, 6.0, 7.0]
    tv = [TRILLION, 600_000_000_000, 200_000_000_000, 60_000_000_000, 150_000_000_000]
    markets = ["KOSDAQ", "KOSPI", "KOSPI", "KOSPI", "KOSDAQ"]
    w = _perfect_window(jumps, tv, markets)
    news = {str(t): [{"title": "t", "source": "연합뉴스", "url": "u"}] for t in w.tickers}
    policy = ClosingBetPolicy(max_positions=3)
    llm = {"000001": {"score": 2, "reason": "긍정"}}
    run = run_closing_bet(
        w,
        policy,
        news=news,
        llm=llm,
        signal_time="2025-12-01T15:20:00+09:00",
        sectors={"000001": "반도체"},
    )
    # Scan order: KOSPI by change desc, then KOSDAQ.
    assert [str(w.tickers[s.row]) for s in run_closing_bet(w, policy).scored] == [
        "000003",
        "000002",
        "000004",
        "000001",
        "000005",
    ]
    assert select_candidates(w, policy) == [2, 1, 3, 0, 4]
    grades_kept = [s["grade"] for s in run.signals]
    assert grades_kept == ["S", "A", "B"]
    assert len(run.signals) == 3  # max_positions cap (the 4th and 5th dropped or C)
    by = {s.row: s for s in run.scored}
    assert by[3].grade == "C"  # 600억 scores volume 0 → mandatory gate fails
    body = run.to_dict(updated_at="2025-12-01T15:21:00", processing_time_ms=12.5)
    assert body["total_candidates"] == body["filtered_count"] == 3
    assert body["by_grade"] == {"S": 1, "A": 1, "B": 1, "C": 0}
    assert body["by_market"] == {"KOSDAQ": 1, "KOSPI": 2}
    assert body["date"] == str(w.dates[-1])
    first = body["signals"][0]
    assert first["stock_code"] == "000001" and first["sector"] == "반도체"
    for key in (
        "has_news",
        "news_sources",
        "is_new_high",
        "is_breakout",
        "supply_positive",
        "volume_surge",
        "sector",
        "current_price",
        "signal_time",
    ):
        assert key in first
    assert first["has_news"] is True and first["news_sources"] == ["연합뉴스"]
    assert first["signal_time"] == "2025-12-01T15:20:00+09:00"
    assert first["current_price"] == first["entry_price"]
    assert first["foreign_5d"] == 50_000 and first["inst_5d"] == 50_000
    assert first["checklist"]["mandatory"] == {"news": True, "volume": True}
    assert first["score"]["news"] == 2 and first["score"]["llm_reason"] == "긍정"
    second = body["signals"][1]
    assert second["score"]["news"] == 1  # no LLM: 1 when any news exists
    assert second["score"]["llm_reason"] == ""


def test_without_news_everything_is_grade_c() -> None:
    w = _perfect_window([12.0, 9.0], [TRILLION, TRILLION])
    run = run_closing_bet(w, ClosingBetPolicy())
    assert run.signals == [] and run.candidates == 2
    assert {s.grade for s in run.scored} == {"C"}
    assumed = run_closing_bet(w, ClosingBetPolicy(), assumed_news_count=1)
    # Keyword fallback: news scores 1, so the best total is 1+3+2+1+0+2 = 9 → A at most.
    assert [s["grade"] for s in assumed.signals] == ["A", "A"]
    assert [s["score"]["total"] for s in assumed.signals] == [9, 9]


def test_top_n_per_market_and_halted_today() -> None:
    w = _perfect_window([6.0 + i * 0.5 for i in range(8)], [TRILLION] * 8)
    p = ClosingBetPolicy(top_n_per_market=3)
    assert select_candidates(w, p) == [7, 6, 5]
    halted = w.halted.copy()
    halted[7, -1] = True
    w2 = type(w)(**{**w.__dict__, "halted": halted})
    assert select_candidates(w2, p) == [6, 5, 4]


def test_policy_is_strict_and_validated() -> None:
    with pytest.raises(ValidationError):
        ClosingBetPolicy(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ClosingBetPolicy(min_price=10, max_price=5)
    with pytest.raises(ValidationError):
        ClosingBetPolicy(max_positions=0)
    p = ClosingBetPolicy()
    with pytest.raises(ValidationError):
        p.max_positions = 3  # type: ignore[misc]
    assert p.r_value == 250_000
    with pytest.raises(ValueError):
        day_features(make_window(np.ones((1, 1))), p)


def test_news_counts_without_items() -> None:
    w = _perfect_window([12.0, 9.0], [TRILLION, TRILLION])
    llm = {"000001": {"score": 0, "reason": "중립"}}
    run = run_closing_bet(w, ClosingBetPolicy(), news_counts={"000001": 2, "000002": 0}, llm=llm)
    scored = {s.row: s for s in run.scored}
    assert scored[0].news == 1  # LLM 0 with two items → 1
    assert scored[1].news == 0 and scored[1].grade == "C"
    assert run.signals[0]["has_news"] is True and run.signals[0]["news_items"] == []


def test_risk_helpers() -> None:
    p = ClosingBetPolicy()
    assert reward_risk_ratio(p) == pytest.approx(5 / 3)
    assert within_loss_limit(499_999, p, "daily") and not within_loss_limit(500_000, p, "daily")
    assert within_loss_limit(999_999, p, "weekly")
    assert not within_loss_limit(1_000_000, p, "weekly")
    assert half_kelly(0.5, 5.0, 3.0) == pytest.approx((0.5 - 0.5 / (5 / 3)) / 2)
    assert half_kelly(0.2, 5.0, 3.0) == 0.0
    assert half_kelly(0.5, 0.0, 3.0) == 0.0
    with pytest.raises(ValueError):
        half_kelly(1.5, 5.0, 3.0)
