"""What the /api/v1 routers share in their OpenAPI: page and field parameters, error and
example responses."""

from __future__ import annotations

from typing import Any

from fastapi import Query

ERROR_EXAMPLE = {
    "error": {
        "code": "invalid_input",
        "message": "invalid ticker 'ABC': expected a 6-character KRX code",
        "request_id": "5f0c1e2d3b4a49c8a7d6e5f4c3b2a190",
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad input", "content": {"application/json": {"example": ERROR_EXAMPLE}}},
    401: {"description": "missing, unknown or revoked API key"},
    403: {"description": "the key lacks the needed scope"},
    404: {"description": "not found"},
    429: {"description": "rate limited (see Retry-After)"},
}
FIELDS = Query(
    default=None,
    max_length=500,
    description="comma-separated top-level fields to return",
    examples=["ticker,close"],
)
CURSOR = Query(default=None, max_length=200, description="next_cursor of the previous page")


def limit_query(default: int = 50) -> Any:
    return Query(default=default, ge=1, le=500, description="page size (1-500)")


def example(body: Any, description: str = "OK") -> dict[int | str, dict[str, Any]]:
    """An OpenAPI 200 response with an example body (for routes returning raw JSON bytes)."""
    return {200: {"description": description, "content": {"application/json": {"example": body}}}}


SIGNAL_EXAMPLE = {
    "id": 812,
    "strategy": "closing-bet",
    "ticker": "005930",
    "name": "삼성전자",
    "market": "KOSPI",
    "signal_date": "2026-02-05",
    "status": "OPEN",
    "grade": "B",
    "score": 7.0,
    "entry_price": 38350.0,
    "stop_price": 37199,
    "target_price": 40267,
    "quantity": 108,
    "position_size": 4141800,
    "return_pct": None,
}
PAGE_EXAMPLE = {"data": [SIGNAL_EXAMPLE], "count": 1, "limit": 50, "next_cursor": "WzgxMV0"}
GATE_EXAMPLE = {
    "status": "YELLOW",
    "score": 55,
    "label": "NEUTRAL",
    "reasons": ["RSI(55.2), MACD: bullish"],
    "sectors": [{"name": "반도체", "signal": "bullish", "change_pct": 1.23, "score": 80}],
    "metrics": {"usd_krw": 1380.5, "kospi": 2650.12, "kospi_change_pct": 0.85},
    "updated_at": "2026-02-05T07:40:00+00:00",
    "date": "2026-02-05",
    "kospi_close": 2650.12,
    "kospi_change_pct": 0.85,
    "kosdaq_close": 870.4,
    "kosdaq_change_pct": -0.31,
    "policy": "monolith",
}
