"""Input checks with messages that name the problem (bad tickers, impossible dates)."""

from __future__ import annotations

import re
from datetime import date, datetime

from krstock.api.infra.errors import ApiError

_TICKER = re.compile(r"^[0-9A-Z]{6}$")


def ticker(value: str) -> str:
    """A 6-character KRX code; digit-only codes shorter than 6 are zero-padded (monolith rule)."""
    raw = value.strip().upper()
    if raw.isdigit() and 0 < len(raw) < 6:
        raw = raw.zfill(6)
    if not _TICKER.match(raw):
        raise ApiError(400, f"invalid ticker {value[:20]!r}: expected a 6-character KRX code")
    return raw


def tickers(values: list[str], limit: int = 500) -> list[str]:
    if len(values) > limit:
        raise ApiError(400, f"too many tickers ({len(values)}); at most {limit} per request")
    return [ticker(str(v)) for v in values]


def parse_date(value: str, what: str = "date") -> date:
    """``YYYY-MM-DD`` or ``YYYYMMDD``; anything else (or an impossible day) is a 400."""
    raw = value.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            parsed = datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
        if not 1990 <= parsed.year <= 2100:
            break
        return parsed
    raise ApiError(
        400, f"invalid {what} {value[:20]!r}: expected an existing YYYY-MM-DD or YYYYMMDD"
    )


def optional_date(value: str | None, what: str = "date") -> date | None:
    return parse_date(value, what) if value else None


def legacy_date(raw: str, what: str = "date") -> date:
    """``YYYY-MM-DD``, ``YYYYMMDD`` or a Gen1 history basename (``kr_ai_analysis_YYYYMMDD``)."""
    value = raw.strip()
    for prefix in ("kr_ai_analysis_", "jongga_v2_results_", "market_gate_"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    if value.endswith(".json"):
        value = value[:-5]
    return parse_date(value, what)
