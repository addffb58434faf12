"""``krstock bench scan``: the full-universe signal scan, vectorized, against a per-ticker
pandas loop of the same rules, in the same run, on the synthetic market (``sample`` source).

Vectorized arm: investor flows (supply-demand index, SmartMoneyScreener), vcp-legacy, the trend
template, the VCP detector, and, when their modules are present, the closing-bet engine and the
market gate. Baseline arm: for each ticker, a DataFrame and ``rolling()``/``tail()`` arithmetic
re-implementing flows, vcp-legacy, the trend template and the VCP detector one ticker at a time
(the closing bet and market gate run the same code in both arms, so the speed-up is conservative).
The two arms' results are compared (``agree``). Prints tickers, days, vectorized_s, baseline_s,
speedup and peak_mb (tracemalloc peak of one vectorized scan).
"""

from __future__ import annotations

import math
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import typer

from krstock.output import emit_json, stderr_console

# numpy, pandas and the engines are imported where they run: `krstock --help` stays quick.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from krstock.domain.flows import FlowPolicy
    from krstock.domain.market import MarketWindow, SeriesWindow
    from krstock.domain.trend_template import TrendTemplatePolicy
    from krstock.domain.vcp import VcpPolicy
    from krstock.domain.vcp_legacy import VcpLegacyPolicy

TARGET_SECONDS = 1.0
TARGET_SPEEDUP = 20.0


@dataclass
class ScanOutput:
    """What both arms produce, for the agreement check."""

    supply_demand_index: np.ndarray
    smart_money_score: np.ndarray
    legacy: set[str]
    trend_pass: set[str]
    vcp: dict[str, str]
    extras: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _extras(window: MarketWindow, series: dict[str, SeriesWindow] | None) -> dict[str, Any]:
    """The closing-bet engine and the market gate (the same code in both arms)."""
    from krstock.domain.closing_bet import ClosingBetPolicy, run_closing_bet
    from krstock.domain.market_gate import market_gate

    run = run_closing_bet(window, ClosingBetPolicy())
    out: dict[str, Any] = {
        "closing_bet_candidates": run.candidates,
        "closing_bet_signals": len(run.signals),
    }
    if series:
        from krstock.marketdata.base import KOSDAQ, KOSPI, SECTOR_ETFS, USDKRW

        body = market_gate(
            kospi=series.get(KOSPI),
            kosdaq=series.get(KOSDAQ),
            usd_krw=series.get(USDKRW),
            sectors={code: series[code] for code in SECTOR_ETFS if code in series},
            updated_at="bench",
        )
        out["market_gate_status"] = body.get("status")
    return out


# ----------------------------------------------------------------- vectorized arm


def vectorized_scan(
    window: MarketWindow, series: dict[str, SeriesWindow] | None = None
) -> ScanOutput:
    import numpy as np

    from krstock.domain.flows import FlowPolicy, analyze_market_flows
    from krstock.domain.trend_template import evaluate_trend_template
    from krstock.domain.vcp import VcpPolicy, detect_vcp_window
    from krstock.domain.vcp_legacy import VcpLegacyPolicy, scan_legacy_signals

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    flows = analyze_market_flows(window, FlowPolicy())
    seconds["flows"] = time.perf_counter() - started
    mark = time.perf_counter()
    legacy = scan_legacy_signals(window, flows, VcpLegacyPolicy())
    seconds["vcp_legacy"] = time.perf_counter() - mark
    mark = time.perf_counter()
    vcp_policy = VcpPolicy()
    trend = evaluate_trend_template(
        window.close, window.high, window.low, vcp_policy.trend_template
    )
    seconds["trend_template"] = time.perf_counter() - mark
    mark = time.perf_counter()
    vcp = detect_vcp_window(window, vcp_policy, trend)
    seconds["vcp"] = time.perf_counter() - mark
    mark = time.perf_counter()
    extras = _extras(window, series)
    seconds["closing_bet_and_gate"] = time.perf_counter() - mark
    tickers = window.tickers
    return ScanOutput(
        supply_demand_index=flows.supply_demand_index,
        smart_money_score=flows.smart_money_score,
        legacy={s.ticker for s in legacy},
        trend_pass=set(tickers[trend.passes].tolist()),
        vcp={str(tickers[i]): str(vcp.status[i]) for i in np.flatnonzero(vcp.flagged)},
        extras=extras,
        seconds=seconds,
    )


# ----------------------------------------------------------------- per-ticker pandas baseline


def _investor_index(net60: float, net20: float, ratio20: float, scale: float) -> float:
    base = min(max(net60 / scale * 25 + 25, 0.0), 35.0)
    denominator = net60 + 1
    recent = min(max(net20 / denominator * 10 if denominator != 0 else 0.0, 0.0), 10.0)
    ratio = min(max(ratio20 / 10 * 2.5 + 2.5, 0.0), 5.0)
    return base + recent + ratio


def _baseline_flows(frame: pd.DataFrame, policy: FlowPolicy) -> dict[str, float]:
    rows = frame[frame["foreign"].notna() & frame["inst"].notna()].tail(60)
    if rows.empty:
        return {"index": math.nan, "score": math.nan, "foreign_5d": math.nan}
    volume = rows["volume"].fillna(0.0)
    sums: dict[str, float] = {}
    for n in (5, 20, 60):
        sums[f"f{n}"] = float(rows["foreign"].tail(n).sum())
        sums[f"i{n}"] = float(rows["inst"].tail(n).sum())
        sums[f"v{n}"] = float(volume.tail(n).sum())

    def ratio(net: float, total: float) -> float:
        return net / total * 100 if total > 0 else 0.0

    def streak(values: pd.Series) -> int:
        count = 0
        for value in reversed(values.tolist()):
            if value > 0:
                count += 1
            else:
                break
        return count

    fr20, ir20 = ratio(sums["f20"], sums["v20"]), ratio(sums["i20"], sums["v20"])
    index = _investor_index(sums["i60"], sums["i20"], ir20, policy.inst_scale) + _investor_index(
        sums["f60"], sums["f20"], fr20, policy.foreign_scale
    )
    index *= 0.8 + 0.2 * min(sums["v20"] / policy.volume_scale, 1.0)
    index = min(max(index, 0.0), 100.0)
    score = 50.0
    f60, i60 = sums["f60"], sums["i60"]
    fs, is_ = policy.screener_foreign60_scale, policy.screener_inst60_scale
    score += min(f60 / fs, 1) * 25 if f60 > 0 else -min(abs(f60) / fs, 1) * 15
    score += min(streak(rows["foreign"]) / 10, 1) * 15
    score += min(i60 / is_, 1) * 20 if i60 > 0 else -min(abs(i60) / is_, 1) * 10
    score += min(streak(rows["inst"]) / 5, 1) * 10
    score += min(max((fr20 + ir20) / 30 * 20, -10), 20)
    both5, both20 = sums["f5"] + sums["i5"], sums["f20"] + sums["i20"]
    previous = both20 - both5
    momentum = (both5 * 3 - previous) / abs(previous) if previous != 0 else 0.0
    score += min(max(momentum * 5, -5), 10)
    return {"index": index, "score": min(max(score, 0.0), 100.0), "foreign_5d": sums["f5"]}


def _baseline_legacy_shape(frame: pd.DataFrame, policy: VcpLegacyPolicy) -> bool:
    rows = frame[frame["close"].notna()].tail(policy.lookback_days)
    if len(rows) < policy.lookback_days:
        return False
    half = policy.lookback_days // 2
    first, last = rows.iloc[:half], rows.iloc[-half:]
    first_range = first["high"].max() - first["low"].min()
    if not first_range > 0:
        return False
    contraction = (last["high"].max() - last["low"].min()) / first_range
    near_high = rows["close"].iloc[-1] >= policy.near_high_pct * rows["close"].max()
    return bool(near_high and contraction <= policy.contraction_max)


def _baseline_trend(frame: pd.DataFrame, policy: TrendTemplatePolicy) -> dict[str, Any]:
    close = frame["close"]
    price = float(close.iloc[-1])

    def mean(days: int, offset: int = 0) -> float:
        rolled = close.rolling(days).mean()
        return float(rolled.iloc[-1 - offset]) if len(rolled) > offset else math.nan

    def back(days: int) -> float:
        if days >= len(close):
            return math.nan
        before = float(close.iloc[-1 - days])
        return price / before - 1 if before > 0 else math.nan

    rs = (
        policy.rs_weight_3m * back(policy.rs_days_3m)
        + policy.rs_weight_6m * back(policy.rs_days_6m)
        + policy.rs_weight_9m * back(policy.rs_days_9m)
        + policy.rs_weight_12m * back(policy.rs_days_12m)
    )
    fast, mid, slow = mean(policy.ma_fast_days), mean(policy.ma_mid_days), mean(policy.ma_slow_days)
    slow_before = mean(policy.ma_slow_days, policy.ma_slow_rising_days)
    # A halted day (high/low 0) counts at its carried close.
    high = frame["high"].where(~(frame["high"] <= 0), close)
    low = frame["low"].where(~(frame["low"] <= 0), close)
    top = float(high.rolling(policy.high_low_days).max().iloc[-1])
    bottom = float(low.rolling(policy.high_low_days).min().iloc[-1])
    checks = [
        price > mid and price > slow,
        mid > slow,
        slow > slow_before,
        fast > mid and fast > slow,
        price > fast,
        price >= (1 + policy.above_low_min) * bottom,
        price >= (1 - policy.below_high_max) * top,
    ]
    return {"rs": rs, "passes_without_rs": all(checks)}


def _baseline_swing(frame: pd.DataFrame, policy: VcpPolicy) -> float:
    """The zigzag reversal for one ticker (fixed, or k × simple ATR ÷ close)."""
    if policy.swing_mode == "fixed":
        return policy.swing_pct
    n = min(policy.atr_days, len(frame) - 1)
    tail = frame.tail(n + 1)
    high, low = tail["high"].to_numpy(float)[1:], tail["low"].to_numpy(float)[1:]
    prev = tail["close"].to_numpy(float)[:-1]
    ranges = [
        max(h - lo, abs(h - p), abs(lo - p))
        for h, lo, p in zip(high, low, prev, strict=True)
        if h > 0 and lo > 0 and not (math.isnan(h) or math.isnan(lo))
    ]
    if n < 1 or not ranges:
        return policy.swing_pct
    atr_pct = sum(ranges) / len(ranges) / float(frame["close"].iloc[-1])
    return min(max(policy.swing_atr_mult * atr_pct, policy.swing_min_pct), policy.swing_max_pct)


def _baseline_vcp(frame: pd.DataFrame, policy: VcpPolicy) -> str:
    """The same base reading as ``krstock.domain.vcp``, one ticker, plain Python."""
    import numpy as np

    width = min(policy.base_days, len(frame))
    base = frame.tail(width)
    high, low = base["high"].tolist(), base["low"].tolist()
    halted = base["halted"].any() or any(x <= 0 for x in high + low)
    if halted or any(math.isnan(x) for x in high + low) or width < 2:
        return ""
    top = max(high[:-1])
    start = next(d for d in range(width - 1) if high[d] >= top * (1 - policy.left_high_tolerance))
    peaks: list[tuple[float, int]] = []
    troughs: list[tuple[float, int]] = []
    falling, extreme, extreme_day = False, high[start], start
    swing = _baseline_swing(frame, policy)
    up, down = 1 + swing, 1 - swing
    for day in range(start + 1, width):
        if falling:
            if low[day] < extreme:
                extreme, extreme_day = low[day], day
            elif high[day] >= extreme * up:
                troughs.append((extreme, extreme_day))
                falling, extreme, extreme_day = False, high[day], day
        elif high[day] > extreme:
            extreme, extreme_day = high[day], day
        elif low[day] <= extreme * down:
            peaks.append((extreme, extreme_day))
            falling, extreme, extreme_day = True, low[day], day
    if falling:
        troughs.append((extreme, extreme_day))
    count = len(troughs)
    if count == 0:
        return ""
    depths = [(peaks[k][0] - troughs[k][0]) / peaks[k][0] for k in range(count)]
    first = depths.index(max(depths))
    peaks, troughs, depths = peaks[first:count], troughs[first:], depths[first:]
    count = len(depths)
    base_length = width - peaks[0][1]
    volume = frame["volume"].to_numpy(dtype=float)
    average = float(volume[-policy.volume_avg_days - 1 : -1].mean())
    if len(volume) <= policy.volume_avg_days or not average > 0:
        return ""
    base_volume = np.nan_to_num(volume[-width:])
    (pivot, peak_day), (_, trough_day) = peaks[-1], troughs[-1]
    quiet = policy.dryup_quiet_days
    stretches = [base_volume[d : d + quiet].mean() for d in range(peak_day, width - quiet)]
    if policy.dryup_mode == "quiet" and stretches:
        dry_up = min(stretches) / average
    else:
        dry_up = base_volume[peak_day : trough_day + 1].mean() / average
    price = float(frame["close"].iloc[-1])
    ok = (
        policy.min_contractions <= count <= policy.max_contractions
        and all(b < policy.max_depth_ratio * a for a, b in pairwise(depths))
        and policy.min_first_depth <= depths[0] <= policy.max_first_depth
        and depths[-1] <= policy.max_last_depth
        and (not policy.require_higher_lows or all(b[0] > a[0] for a, b in pairwise(troughs)))
        and base_length >= policy.min_base_days
        and dry_up < policy.dry_up_max_ratio
    )
    if not ok:
        return ""
    if price > pivot and volume[-1] / average >= policy.breakout_volume_mult:
        return "breakout"
    if (1 - policy.max_pivot_distance) * pivot <= price <= pivot:
        return "setup"
    return ""


def baseline_scan(
    window: MarketWindow, series: dict[str, SeriesWindow] | None = None
) -> ScanOutput:
    """One DataFrame per ticker; universe steps (percentile clip, RS rank) after the loop."""
    import numpy as np
    import pandas as pd

    from krstock.domain.flows import FlowPolicy
    from krstock.domain.vcp import VcpPolicy
    from krstock.domain.vcp_legacy import VcpLegacyPolicy

    flow_policy, legacy_policy, vcp_policy = FlowPolicy(), VcpLegacyPolicy(), VcpPolicy()
    trend_policy = vcp_policy.trend_template
    index, score, foreign_5d, rs = [], [], [], []
    legacy_shape, trend_ok, vcp_status = [], [], []
    for i in range(len(window.tickers)):
        frame = pd.DataFrame(
            {
                "high": window.high[i],
                "low": window.low[i],
                "close": window.close[i],
                "volume": window.volume[i],
                "foreign": window.foreign_net_shares[i],
                "inst": window.inst_net_shares[i],
                "halted": window.halted[i],
            },
            index=pd.DatetimeIndex(window.dates),
        )
        flows = _baseline_flows(frame, flow_policy)
        index.append(flows["index"])
        score.append(flows["score"])
        foreign_5d.append(flows["foreign_5d"])
        legacy_shape.append(_baseline_legacy_shape(frame, legacy_policy))
        trend = _baseline_trend(frame, trend_policy)
        rs.append(trend["rs"])
        trend_ok.append(trend["passes_without_rs"])
        vcp_status.append(_baseline_vcp(frame, vcp_policy))
    raw = np.array(index)
    finite = raw[np.isfinite(raw)]
    low, high = np.percentile(finite, [flow_policy.clip_low_pct, flow_policy.clip_high_pct])
    clipped = np.clip(raw, low, high)
    rank = pd.Series(rs).rank(method="max", pct=True).to_numpy() * 100
    tickers = window.tickers.tolist()
    passes = [
        ok and bool(r >= trend_policy.rs_min_rank) for ok, r in zip(trend_ok, rank, strict=True)
    ]
    legacy = {
        t
        for t, shape, f5, sdi in zip(tickers, legacy_shape, foreign_5d, clipped, strict=True)
        if shape and f5 >= legacy_policy.foreign_min_5d and sdi >= legacy_policy.supply_demand_min
    }
    return ScanOutput(
        supply_demand_index=clipped,
        smart_money_score=np.array(score),
        legacy=legacy,
        trend_pass={t for t, p in zip(tickers, passes, strict=True) if p},
        vcp={
            t: s
            for t, s, p in zip(tickers, vcp_status, passes, strict=True)
            if s and (p or not vcp_policy.require_trend_template)
        },
        extras=_extras(window, series),
    )


def agreement(a: ScanOutput, b: ScanOutput) -> dict[str, bool]:
    """Which outputs match between the two arms."""
    import numpy as np

    return {
        "supply_demand_index": bool(
            np.allclose(a.supply_demand_index, b.supply_demand_index, equal_nan=True)
        ),
        "smart_money_score": bool(
            np.allclose(a.smart_money_score, b.smart_money_score, equal_nan=True)
        ),
        "vcp_legacy": a.legacy == b.legacy,
        "trend_template": a.trend_pass == b.trend_pass,
        "vcp": a.vcp == b.vcp,
    }


def sample_inputs(
    tickers: int, days: int, seed: int
) -> tuple[MarketWindow, dict[str, SeriesWindow]]:
    from krstock.marketdata.sample import DEFAULT_END, SampleMarket

    market = SampleMarket(seed=seed, n_tickers=tickers)
    end: date = DEFAULT_END
    return market.to_window(end, days), market.series(end, days)


def vcp_selectivity(
    tickers: int, seed: int, random_seed: int = 7, policy: VcpPolicy | None = None
) -> dict[str, Any]:
    """The VCP detector on the sample market's planted bases (every planting date) and on a
    pure random-walk market: recall, share of hits never planted, random-walk flag rate."""
    from krstock.domain.vcp import VcpPolicy, detect_vcp_window
    from krstock.marketdata.sample import SampleMarket, random_walk_market

    policy = policy or VcpPolicy()

    market = SampleMarket(seed=seed, n_tickers=tickers)
    planted = market.planted
    vcp = planted[planted["kind"] == "vcp"]
    ever = set(vcp["ticker"])
    found = hits = unplanted = status_agrees = 0
    for day in sorted(set(vcp["date"])):
        window = market.to_window(day, 300)
        result = detect_vcp_window(window, policy)
        flagged = set(window.tickers[result.flagged].tolist())
        hits += len(flagged)
        unplanted += len(flagged - ever)
        for record in vcp[vcp["date"] == day].itertuples():
            i = window.index_of(record.ticker)
            if result.flagged[i]:
                found += 1
                status_agrees += result.status[i] == record.details["pattern"]
    noise = detect_vcp_window(random_walk_market(random_seed, tickers, 260), policy)
    return {
        "planted": len(vcp),
        "found": found,
        "recall": round(found / max(len(vcp), 1), 4),
        "status_agrees": status_agrees,
        "hits": hits,
        "unplanted_hits": unplanted,
        "unplanted_share": round(unplanted / max(hits, 1), 4),
        "random_walk_flagged": int(noise.flagged.sum()),
        "random_walk_rate": round(float(noise.flagged.mean()), 5),
        "random_walk_trend_template_rate": round(float(noise.trend.passes.mean()), 4),
    }


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("scan")
    def scan(
        as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
        tickers: int = typer.Option(2500, "--tickers", help="Universe size (synthetic market)."),
        days: int = typer.Option(260, "--days", help="Trading days in the scan window."),
        seed: int = typer.Option(20260101, "--seed", help="Synthetic market seed."),
        repeat: int = typer.Option(3, "--repeat", help="Vectorized runs (the best is reported)."),
        selectivity: bool = typer.Option(
            False, "--selectivity", help="Also measure VCP recall/precision on planted bases."
        ),
    ) -> None:
        """Full-universe scan: vectorized seconds, per-ticker pandas loop seconds, speed-up."""
        if tickers < 60 or days < 2:
            stderr_console.print("[red]error:[/red] need --tickers ≥ 60 and --days ≥ 2")
            raise typer.Exit(2)
        window, series = sample_inputs(tickers, days, seed)
        runs = []
        for _ in range(max(repeat, 1)):
            started = time.perf_counter()
            fast = vectorized_scan(window, series)
            runs.append((time.perf_counter() - started, fast))
        vectorized_s, fast = min(runs, key=lambda run: run[0])
        tracemalloc.start()
        vectorized_scan(window, series)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        started = time.perf_counter()
        slow = baseline_scan(window, series)
        baseline_s = time.perf_counter() - started
        agree = agreement(fast, slow)
        figures: dict[str, Any] = {
            "tickers": tickers,
            "days": days,
            "source": "sample",
            "vectorized_s": round(vectorized_s, 4),
            "baseline_s": round(baseline_s, 3),
            "speedup": round(baseline_s / vectorized_s, 1),
            "peak_mb": round(peak_mb, 1),
            "stages_s": {k: round(v, 4) for k, v in fast.seconds.items()},
            "counts": {
                "vcp": len(fast.vcp),
                "vcp_breakouts": sum(s == "breakout" for s in fast.vcp.values()),
                "vcp_legacy": len(fast.legacy),
                "trend_template": len(fast.trend_pass),
                **fast.extras,
            },
            "agree": agree,
            "targets": {
                "vectorized_s_max": TARGET_SECONDS,
                "speedup_min": TARGET_SPEEDUP,
                "met": vectorized_s <= TARGET_SECONDS
                and baseline_s / vectorized_s >= TARGET_SPEEDUP,
            },
        }
        if selectivity:
            figures["vcp_selectivity"] = vcp_selectivity(tickers, seed)
        if as_json:
            emit_json(figures)
            return
        for key in ("tickers", "days", "vectorized_s", "baseline_s", "speedup", "peak_mb"):
            print(f"{key}: {figures[key]}")
        print(f"stages_s: {figures['stages_s']}")
        print(f"counts: {figures['counts']}")
        print(f"agree: {agree}")
        print(f"targets met: {figures['targets']['met']}")
        if selectivity:
            print(f"vcp_selectivity: {figures['vcp_selectivity']}")
