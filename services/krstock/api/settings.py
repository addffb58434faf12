"""API-only settings (prefix ``KRSTOCK_``): upstream services, limits, cache TTLs, dispatch mode.

The platform-wide knobs (database, Redis, CORS, ``api_require_key_for_reads``) stay in
``krstock.config.Settings``; this class only adds what the HTTP services need, so each service
deploys on its own with nothing but environment variables.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KRSTOCK_", env_file=".env", extra="ignore")

    # Upstream services for the gateway: comma-separated base URLs per service name
    # (KRSTOCK_SERVICE_SIGNALS_URLS=http://a:8000,http://b:8000). Empty means "serve in-process".
    service_scanner_urls: str = ""
    service_signals_urls: str = ""
    service_analyzer_urls: str = ""
    # In a cluster (KUBERNETES_SERVICE_HOST set) an unset service resolves to its DNS name.
    service_dns_template: str = "http://krstock-{name}:8000"
    upstream_timeout_s: float = Field(default=2.0, gt=0)
    upstream_retries: int = Field(default=2, ge=0, le=5)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_reset_s: float = Field(default=15.0, gt=0)

    # How trigger routes run work: "local" runs krstock.app.runs in a background thread,
    # "celery" enqueues the task by name on the broker.
    dispatch_mode: Literal["local", "celery"] = "local"
    # At shutdown, how long to wait for local runs before marking them FAILED (interrupted);
    # below the pod's terminationGracePeriodSeconds (30 s).
    shutdown_grace_s: float = Field(default=20.0, ge=0)

    # Rate limits: requests per window, per API key and per client IP.
    rate_limit_enabled: bool = True
    rate_limit_window_s: int = Field(default=60, ge=1)
    rate_limit_per_ip: int = Field(default=600, ge=1)
    rate_limit_per_key: int = Field(default=3000, ge=1)
    trust_forwarded_for: bool = False
    rate_limit_prefix: str = "krstock:rl"

    # Cache TTLs in seconds (stock info 1 h, signals 5 min, prices 1 min, market gate 15 min).
    cache_enabled: bool = True
    cache_ttl_stock_s: int = 3600
    cache_ttl_signals_s: int = 300
    cache_ttl_prices_s: int = 60
    cache_ttl_gate_s: int = 900
    cache_prefix: str = "krstock:cache"

    # Realtime prices: "db" (latest daily bar), "yfinance" (when installed and reachable), "auto".
    price_source: Literal["db", "yfinance", "auto"] = "auto"

    # Pagination bounds for /api/v1.
    page_default: int = Field(default=50, ge=1)
    page_max: int = Field(default=500, ge=1)


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    return ApiSettings()
