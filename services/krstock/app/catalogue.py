"""The strategies, each one object with a fixed interface (in the spirit of freqtrade's
``IStrategy``): what it reads, how it scans a market window, and how its trades exit.

Live scans (:mod:`krstock.app.scans`) and backtests (:mod:`krstock.app.backtests`) run the same
objects: a backtest replays :meth:`Strategy.scan` day by day and keeps the rows that are
entries. Looking a strategy up is a dictionary access on :class:`~krstock.app.kinds.RunKind`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any, ClassVar, Literal, TypedDict

import numpy as np

from krstock.ai.news_judge import JudgesNews
from krstock.app.kinds import RunKind
from krstock.domain.closing_bet import day_features, run_closing_bet, select_candidates
from krstock.domain.flows import analyze_market_flows
from krstock.domain.market import MarketWindow
from krstock.domain.policy import SignalPolicy
from krstock.domain.trend_template import evaluate_trend_template, trend_template_rows
from krstock.domain.vcp import detect_vcp_window, vcp_rows
from krstock.domain.vcp_legacy import scan_legacy_signals

# Trading days a scan reads: the 12-month RS return and 52-week extremes need ~252.
WINDOW_DAYS = 260
# Investor-flow days a scan reads: the longest flow window (60-day sums); flows are most rows.
FLOW_DAYS = 60
# Backtests have no historical news: every closing-bet candidate is assumed to have one item
# (news score 1 through the no-LLM fallback); with none every signal would grade C.
BACKTEST_ASSUMED_NEWS = 1

ExitRule = Literal["vcp", "closing_bet"]
SignalStatus = Literal["OPEN", "PENDING", "CLOSED", "CANCELLED"]
NewsByTicker = Mapping[str, Sequence[Mapping[str, Any]]]


class SignalRow(TypedDict, total=False):
    """One signal as a scan produces it (the ``signals`` table's columns; ``payload`` keeps the
    engine's full output)."""

    ticker: str
    status: SignalStatus
    grade: str | None
    score: float | None
    score_breakdown: dict[str, Any]
    entry_price: float | None
    current_price: float | None
    stop_price: float | None
    target_price: float | None
    quantity: int | None
    position_size: float | None
    foreign_5d: int | None
    inst_5d: int | None
    flow_unit: str
    contraction_ratio: float | None
    hold_days: int | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class ScanContext:
    """What a scan knows besides the market window. ``news`` is None when no news can be known
    (a backtest's past days), a mapping (possibly empty) when it was read."""

    news: NewsByTicker | None = None
    # Judges the closing-bet candidates' news (LLM or rules, krstock.ai.news_judge).
    news_judge: JudgesNews | None = None


@dataclass
class ScanResult:
    rows: list[SignalRow]
    summary: dict[str, Any]


def _iso(day: np.datetime64) -> str:
    return str(np.datetime_as_string(np.asarray(day).astype("datetime64[D]")))


def _finite_int(value: Any) -> int | None:
    return None if value is None or not np.isfinite(value) else round(float(value))


class Strategy(ABC):
    """The interface every strategy fills in."""

    kind: ClassVar[RunKind]
    lookback_days: ClassVar[int] = WINDOW_DAYS
    flow_days: ClassVar[int] = FLOW_DAYS  # 0: reads no investor flows
    needs_news: ClassVar[bool] = False
    # Blocked on a RED gate day when the policy says so (market_gate.block_signals_on_red).
    needs_gate: ClassVar[bool] = True
    # How the tracker and backtests close its trades; None for a screen that makes no trades.
    exit_rule: ClassVar[ExitRule | None] = None
    # The status of the rows that are entries (trades); other rows are a watch list.
    entry_status: ClassVar[SignalStatus | None] = "OPEN"

    def news_tickers(self, window: MarketWindow, policy: SignalPolicy) -> list[str]:
        """The tickers whose news the scan reads (only when ``needs_news``)."""
        return []

    @abstractmethod
    def scan(self, window: MarketWindow, policy: SignalPolicy, context: ScanContext) -> ScanResult:
        """The signals of the window's last day (the window holds only what was known then)."""

    @property
    def backtestable(self) -> bool:
        return self.exit_rule is not None and self.entry_status is not None

    def entries(
        self, window: MarketWindow, policy: SignalPolicy, context: ScanContext | None = None
    ) -> list[SignalRow]:
        """The rows of a replayed day that open trades (only the lookback; no news known
        unless ``context`` brings that day's)."""
        n = window.shape[1]
        recent = window.columns(slice(max(0, n - self.lookback_days), n))
        rows = self.scan(recent, policy, context or ScanContext(news=None)).rows
        return [row for row in rows if row.get("status") == self.entry_status]


class VcpLegacy(Strategy):
    """SignalTracker's VCP with its supply/demand score (the monolith's ``signals_log.csv``)."""

    kind = RunKind.VCP_LEGACY
    exit_rule = "vcp"

    def scan(self, window: MarketWindow, policy: SignalPolicy, context: ScanContext) -> ScanResult:
        flows = analyze_market_flows(window, policy.flows, "shares")
        rows: list[SignalRow] = [
            {
                "ticker": s.ticker,
                "status": "OPEN",
                "score": s.score,
                "score_breakdown": {"supply_demand_index": s.score},
                "entry_price": s.entry_price,
                "current_price": s.entry_price,
                "foreign_5d": s.foreign_5d,
                "inst_5d": s.inst_5d,
                "flow_unit": "shares",
                "contraction_ratio": s.contraction_ratio,
                "hold_days": 0,
                "payload": s.as_row(),
            }
            for s in scan_legacy_signals(window, flows, policy.vcp_legacy)
        ]
        return ScanResult(rows, {})


class Vcp(Strategy):
    """Minervini's VCP on the trend template: a breakout is an entry at today's close, a setup
    waits on the watch list (PENDING) until it breaks out."""

    kind = RunKind.VCP
    exit_rule = "vcp"

    def scan(self, window: MarketWindow, policy: SignalPolicy, context: ScanContext) -> ScanResult:
        trend = evaluate_trend_template(
            window.close, window.high, window.low, policy.trend_template
        )
        items = vcp_rows(
            detect_vcp_window(window, policy.vcp, trend), window.tickers, _iso(window.dates[-1])
        )
        if not items:
            return ScanResult([], {})
        flows = analyze_market_flows(window, policy.flows, "shares")
        foreign_5d, inst_5d = flows.windows.foreign_net[5], flows.windows.inst_net[5]
        last_close = window.close[:, -1]
        rows: list[SignalRow] = []
        for item in items:
            i = window.index_of(item["ticker"])
            rows.append(
                {
                    "ticker": item["ticker"],
                    "status": "OPEN" if item["status"] == "breakout" else "PENDING",
                    "score": item["score"],
                    "score_breakdown": item["components"],
                    "entry_price": float(last_close[i]),
                    "current_price": float(last_close[i]),
                    "stop_price": None,
                    "foreign_5d": _finite_int(foreign_5d[i]),
                    "inst_5d": _finite_int(inst_5d[i]),
                    "flow_unit": "shares",
                    "hold_days": 0,
                    "payload": item,
                }
            )
        return ScanResult(rows, {})


class TrendTemplate(Strategy):
    """Minervini's trend template as a screen: rows are PENDING and the tracker leaves them."""

    kind = RunKind.TREND_TEMPLATE
    flow_days = 0
    entry_status = None

    def scan(self, window: MarketWindow, policy: SignalPolicy, context: ScanContext) -> ScanResult:
        result = evaluate_trend_template(
            window.close, window.high, window.low, policy.trend_template
        )
        rows: list[SignalRow] = [
            {
                "ticker": item["ticker"],
                "status": "PENDING",
                "score": item["rs_rank"],
                "score_breakdown": {"rs_rank": item["rs_rank"], "rs": item["rs"]},
                "current_price": item["close"],
                "payload": item,
            }
            for item in trend_template_rows(result, window.tickers)
        ]
        return ScanResult(rows, {})


class ClosingBet(Strategy):
    """종가베팅 V2: today's top gainers scored on 12 points, graded S/A/B with a position size;
    entry at today's close."""

    kind = RunKind.CLOSING_BET
    needs_news = True
    exit_rule = "closing_bet"

    def news_tickers(self, window: MarketWindow, policy: SignalPolicy) -> list[str]:
        """Exactly the candidates the engine will score (its change floor is the policy's, so
        a preset that lowers it reads news for the movers it adds)."""
        if window.shape[1] < 2:
            return []
        return [str(window.tickers[r]) for r in select_candidates(window, policy.closing_bet)]

    def scan(self, window: MarketWindow, policy: SignalPolicy, context: ScanContext) -> ScanResult:
        if window.shape[1] < 2:
            return ScanResult([], {})
        started = perf_counter()
        judged: dict[str, dict[str, Any]] = {}
        if context.news is None:
            run = run_closing_bet(
                window, policy.closing_bet, assumed_news_count=BACKTEST_ASSUMED_NEWS
            )
        else:
            llm, judged = self._judge_news(window, policy, context)
            run = run_closing_bet(window, policy.closing_bet, news=context.news, llm=llm or None)
        elapsed_ms = (perf_counter() - started) * 1000
        body = run.to_dict(updated_at=datetime.now(UTC).isoformat(), processing_time_ms=elapsed_ms)
        rows: list[SignalRow] = [
            {
                "ticker": s["stock_code"],
                "status": "OPEN",
                "grade": s["grade"],
                "score": s["score"]["total"],
                "score_breakdown": s["score"],
                "entry_price": s["entry_price"],
                "current_price": s["entry_price"],
                "stop_price": s["stop_price"],
                "target_price": s["target_price"],
                "quantity": s["quantity"],
                "position_size": s["position_size"],
                "foreign_5d": s.get("foreign_5d"),
                "inst_5d": s.get("inst_5d"),
                "flow_unit": "shares",
                "hold_days": 0,
                "payload": _with_judgement(s, judged.get(s["stock_code"])),
            }
            for s in run.signals
        ]
        summary = {k: v for k, v in body.items() if k != "signals"}
        summary["candidates_scored"] = run.candidates
        return ScanResult(rows, summary)

    def _judge_news(
        self, window: MarketWindow, policy: SignalPolicy, context: ScanContext
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The news component's scores (LLM or rules) and a record per candidate."""
        if context.news is None or context.news_judge is None:
            return {}, {}
        feats = day_features(window, policy.closing_bet)
        rows = select_candidates(window, policy.closing_bet)
        candidates = [
            (
                str(window.tickers[r]),
                str(window.names[r]),
                {
                    "change_pct": float(feats.change_pct[r]),
                    "trading_value": float(feats.trading_value[r]),
                },
            )
            for r in rows
        ]
        day = datetime.fromisoformat(_iso(window.dates[-1])).date()
        return context.news_judge.judge(day, candidates, context.news)


def _with_judgement(signal: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    """The signal's payload with how its news component was judged (recorded per signal)."""
    if record is None:
        return signal
    return {**signal, "news_judgement": {**record, "score_used": signal["score"]["news"]}}


STRATEGIES: dict[RunKind, Strategy] = {
    s.kind: s for s in (Vcp(), VcpLegacy(), TrendTemplate(), ClosingBet())
}


def strategy(kind: RunKind) -> Strategy:
    """The strategy of a scan kind (ValueError for a kind that is not a scan)."""
    try:
        return STRATEGIES[kind]
    except KeyError:
        raise ValueError(
            f"{kind!r} is not a strategy; use one of {', '.join(STRATEGIES)}"
        ) from None


def kinds_exiting_by(rule: ExitRule) -> tuple[RunKind, ...]:
    """The strategies whose trades the tracker closes by ``rule``."""
    return tuple(kind for kind, s in STRATEGIES.items() if s.exit_rule == rule)


BACKTEST_KINDS: tuple[RunKind, ...] = tuple(k for k, s in STRATEGIES.items() if s.backtestable)
TRACKED_KINDS: tuple[RunKind, ...] = tuple(k for k, s in STRATEGIES.items() if s.exit_rule)
