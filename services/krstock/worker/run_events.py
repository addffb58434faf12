"""What each run announces on the event bus, built from its summary after the work.

Event ids derive from the run (or, for a signal, from its natural key), so publishing again after
a redelivery changes nothing for consumers that deduplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from krstock.bus.events import (
    AIAnalysisCompleted,
    Event,
    MarketDataUpdated,
    MarketStatusChanged,
    PriceUpdated,
    ScanCompleted,
    SignalCreated,
    VCPSignalDetected,
)
from krstock.worker.execution import event_id_for


def _int_counts(summary: dict[str, Any]) -> dict[str, int]:
    """Numeric counts of a summary: its ``counts`` (or ``tables``) mapping, else its top level."""
    counts = summary.get("counts") or summary.get("tables") or summary
    out: dict[str, int] = {}
    for key, value in counts.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            out[key] = int(value)
        elif isinstance(value, dict):  # e.g. per-table {"rows": n, ...}
            for sub, number in value.items():
                if isinstance(number, int | float) and not isinstance(number, bool):
                    out[f"{key}.{sub}"] = int(number)
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def collect_events(
    run_id: str, start: date, end: date, source: str, pipeline_id: str | None
) -> Callable[[dict[str, Any]], list[Event]]:
    def build(summary: dict[str, Any]) -> list[Event]:
        return [
            MarketDataUpdated(
                event_id=event_id_for(run_id, "MarketDataUpdated"),
                run_id=run_id,
                pipeline_id=pipeline_id,
                start=start,
                end=end,
                source=str(summary.get("source") or source),
                counts=_int_counts(summary),
            )
        ]

    return build


def gate_events(
    run_id: str, day: date, pipeline_id: str | None
) -> Callable[[dict[str, Any]], list[Event]]:
    def build(summary: dict[str, Any]) -> list[Event]:
        nested = summary.get("gate")
        gate: dict[str, Any] = nested if isinstance(nested, dict) else summary
        status = gate.get("status")
        previous = summary.get("previous_status")
        changed = summary.get("changed", status != previous)
        # The first gate ever (no previous colour) counts as a change.
        if status is None or not (changed or previous is None):
            return []
        score = gate.get("score")
        return [
            MarketStatusChanged(
                event_id=event_id_for(run_id, "MarketStatusChanged"),
                run_id=run_id,
                pipeline_id=pipeline_id,
                day=day,
                status=str(status),
                previous_status=previous,
                score=float(score) if isinstance(score, int | float) else None,
            )
        ]

    return build


def scan_events(
    run_id: str, kind: str, day: date, pipeline_id: str | None
) -> Callable[[dict[str, Any]], list[Event]]:
    def build(summary: dict[str, Any]) -> list[Event]:
        signals = [s for s in summary.get("signals") or [] if isinstance(s, dict)]
        events: list[Event] = []
        strategy = str(summary.get("strategy") or kind)
        for item in signals:
            ticker = str(item.get("ticker"))
            events.append(
                SignalCreated(
                    # Keyed by the signal's natural key, not the run: a re-scan of the same day
                    # does not announce the same signal twice.
                    event_id=event_id_for(f"{strategy}:{day.isoformat()}", "SignalCreated", ticker),
                    run_id=run_id,
                    pipeline_id=pipeline_id,
                    day=day,
                    strategy=strategy,
                    ticker=ticker,
                    signal_id=item.get("id") or item.get("signal_id"),
                    grade=item.get("grade"),
                    score=_number(item.get("score", item.get("total_score"))),
                    entry_price=_number(item.get("entry_price")),
                )
            )
        if kind.startswith("vcp") and signals:
            events.append(
                VCPSignalDetected(
                    event_id=event_id_for(run_id, "VCPSignalDetected"),
                    run_id=run_id,
                    pipeline_id=pipeline_id,
                    day=day,
                    strategy=strategy,
                    tickers=[str(s.get("ticker")) for s in signals],
                    count=len(signals),
                )
            )
        events.append(
            ScanCompleted(
                event_id=event_id_for(run_id, "ScanCompleted"),
                run_id=run_id,
                pipeline_id=pipeline_id,
                day=day,
                kind=kind,
                status="SUCCEEDED",
                counts=_int_counts(summary),
            )
        )
        return events

    return build


def analysis_events(
    run_id: str, day: date, pipeline_id: str | None
) -> Callable[[dict[str, Any]], list[Event]]:
    def build(summary: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        for item in summary.get("analyses") or []:
            if not isinstance(item, dict) or not item.get("ticker"):
                continue
            events.append(
                AIAnalysisCompleted(
                    event_id=event_id_for(run_id, "AIAnalysisCompleted", str(item["ticker"])),
                    run_id=run_id,
                    pipeline_id=pipeline_id,
                    day=day,
                    ticker=str(item["ticker"]),
                    signal_id=item.get("signal_id"),
                    analysis_source=str(
                        item.get("analysis_source") or summary.get("analysis_source")
                    ),
                    action=item.get("action"),
                    confidence=item.get("confidence"),
                )
            )
        return events

    return build


def track_events(
    run_id: str, day: date, pipeline_id: str | None
) -> Callable[[dict[str, Any]], list[Event]]:
    def build(summary: dict[str, Any]) -> list[Event]:
        counts = _int_counts(summary)
        tickers = counts.get("open_before", counts.get("updated", 0))
        return [
            PriceUpdated(
                event_id=event_id_for(run_id, "PriceUpdated"),
                run_id=run_id,
                pipeline_id=pipeline_id,
                day=day,
                tickers=tickers,
            )
        ]

    return build
