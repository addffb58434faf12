"""Prometheus counters of LLM use: calls by outcome, tokens by direction, cost in USD (prices
from configuration), and request latency."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CALLS = Counter(
    "krstock_llm_calls",
    "LLM calls by provider and outcome (accepted, repair, rejected, failed, rate_limited, "
    "cached, over_budget)",
    ["provider", "outcome"],
)
TOKENS = Counter(
    "krstock_llm_tokens", "LLM tokens as usageMetadata counts them", ["provider", "direction"]
)
COST = Counter("krstock_llm_cost_usd", "LLM cost in USD at the configured prices", ["provider"])
DURATION = Histogram(
    "krstock_llm_request_duration_seconds",
    "LLM HTTP request latency",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80),
)
