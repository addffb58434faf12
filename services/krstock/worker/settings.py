"""Knobs of the worker, bus and schedules (env prefix ``KRSTOCK_``), next to the core Settings."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _dates(value: object) -> object:
    if isinstance(value, str):
        return [date.fromisoformat(part.strip()) for part in value.split(",") if part.strip()]
    return value


class PipelineSettings(BaseSettings):
    """Time limits, retries, locks, bus tuning, schedule overrides and probe files."""

    model_config = SettingsConfigDict(env_prefix="KRSTOCK_", env_file=".env", extra="ignore")

    # Celery. Hard limits per queue; the soft limit fires ``soft_margin_s`` earlier.
    task_time_limit_collect_s: int = Field(default=1800, ge=5)
    task_time_limit_scan_s: int = Field(default=600, ge=5)
    task_time_limit_ai_s: int = Field(default=900, ge=5)
    task_time_limit_maintenance_s: int = Field(default=3600, ge=5)
    soft_margin_s: int = Field(default=30, ge=1)
    # Must stay above the longest hard limit, or Redis redelivers a task that is still running.
    visibility_timeout_s: int | None = Field(default=None, ge=1)
    unacked_restore_interval_s: int = Field(default=10, ge=1)
    max_retries: int = Field(default=5, ge=0)
    retry_backoff_max_s: int = Field(default=300, ge=1)
    task_always_eager: bool = False
    # Worker probes (Kubernetes): liveness reads the heartbeat file, readiness the ready file.
    worker_heartbeat_file: str = "/tmp/krstock-worker-heartbeat"
    worker_ready_file: str = "/tmp/krstock-worker-ready"
    worker_heartbeat_interval_s: float = Field(default=10.0, gt=0)
    # Celery beat's state file (outside Kubernetes only; containers may have a read-only cwd).
    beat_schedule_file: str = "/tmp/krstock-celerybeat-schedule"
    # Locks: renewed while the task runs, so a killed worker frees it within the TTL.
    lock_ttl_s: float = Field(default=30.0, gt=0)
    lock_retry_countdown_s: float = Field(default=15.0, ge=0)
    # Redis key namespace (tests use a fresh one each).
    redis_prefix: str = "krstock"
    # Event bus.
    bus_max_attempts: int = Field(default=5, ge=1)
    bus_claim_idle_ms: int = Field(default=60_000, ge=1)
    bus_dedup_ttl_s: int = Field(default=7 * 24 * 3600, ge=1)
    bus_stream_maxlen: int = Field(default=100_000, ge=100)
    # Notifications (both off unless configured).
    notify_webhook_url: str | None = None
    telegram_bot_token: str | None = None
    telegram_chat_id: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    # Calendar corrections and schedule overrides ("HH:MM" KST).
    krx_extra_holidays: Annotated[list[date], NoDecode] = Field(default_factory=list)
    krx_extra_trading_days: Annotated[list[date], NoDecode] = Field(default_factory=list)
    schedule_full_update: str = "15:10"
    schedule_closing_bet: str = "15:20"
    schedule_prices: str = "16:00"
    schedule_flows: str = "16:10"
    schedule_vcp: str = "16:20"
    schedule_report: str = "16:30"
    schedule_backfill: str = "10:00"
    backfill_days: int = Field(default=30, ge=1)
    default_source: str | None = None

    @field_validator("krx_extra_holidays", "krx_extra_trading_days", mode="before")
    @classmethod
    def _split_dates(cls, value: object) -> object:
        return _dates(value)

    def time_limit(self, queue: str) -> int:
        limits = {
            "collect": self.task_time_limit_collect_s,
            "scan": self.task_time_limit_scan_s,
            "ai": self.task_time_limit_ai_s,
            "maintenance": self.task_time_limit_maintenance_s,
        }
        if queue not in limits:
            raise ValueError(f"unknown queue {queue!r}; expected one of {sorted(limits)}")
        return limits[queue]

    def soft_time_limit(self, queue: str) -> int:
        hard = self.time_limit(queue)
        return max(1, hard - min(self.soft_margin_s, hard // 2))

    @property
    def effective_visibility_timeout_s(self) -> int:
        longest = max(self.time_limit(q) for q in ("collect", "scan", "ai", "maintenance"))
        return self.visibility_timeout_s or longest + 300


@lru_cache(maxsize=1)
def get_pipeline_settings() -> PipelineSettings:
    return PipelineSettings()
