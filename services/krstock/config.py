"""Runtime settings, read once from the environment (prefix ``KRSTOCK_``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the platform; the defaults run a laptop demo."""

    model_config = SettingsConfigDict(env_prefix="KRSTOCK_", env_file=".env", extra="ignore")

    # Storage. ``database_url`` is what the application uses (the least-privilege role in
    # production); ``migration_database_url`` is the schema owner used by ``krstock db upgrade``.
    database_url: str | None = None
    migration_database_url: str | None = None
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_max_overflow: int = Field(default=5, ge=0, le=100)
    db_pool_timeout_s: float = Field(default=10.0, gt=0)
    db_statement_timeout_ms: int = Field(default=60_000, ge=0)
    app_role: str = "krstock_app"

    # Redis: broker, cache and event stream.
    redis_url: str | None = None

    # Logging: "json" in production, "console" (readable) on a terminal, "auto" picks by tty.
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Market data.
    market_source: Literal["sample", "krx", "yahoo", "krx-csv", "legacy"] = "sample"
    sample_seed: int = 20260101
    sample_tickers: int = Field(default=2500, ge=10, le=5000)

    # LLM.
    gemini_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("KRSTOCK_GEMINI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"),
    )
    gemini_model: str = "gemini-3-flash-preview"
    llm_rate_per_s: float = Field(default=1.0, gt=0)
    krx_rate_per_s: float = Field(default=5.0, gt=0)

    # API.
    api_require_key_for_reads: bool = False
    cors_origins: list[str] = Field(default_factory=lambda: ["http://localhost:3000"])
    capital_krw: int = Field(default=50_000_000, gt=0)

    # Paths.
    data_dir: str = "data"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests call ``get_settings.cache_clear()`` after changing env)."""
    return Settings()
