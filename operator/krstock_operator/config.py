"""Operator settings, read once from ``KRSTOCK_OPERATOR_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """What the operator needs to know about the platform it deploys workers into."""

    model_config = SettingsConfigDict(env_prefix="KRSTOCK_OPERATOR_", extra="ignore")

    # The platform image the workers and the enqueue Jobs run (the operator has its own image).
    image: str = "ghcr.io/krstock/krstock:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    # Secret / ConfigMap with KRSTOCK_* settings (database, Redis) mounted into workers via envFrom
    # (the chart's names for a release called krstock).
    env_secret: str | None = "krstock-env"
    env_configmap: str | None = "krstock-config"
    worker_service_account: str | None = None
    # Where the API lives (run records: GET /api/v1/runs?scanjob=NS/NAME) and its optional key.
    # Fully qualified: enqueue pods run in the ScanJob's namespace, not the gateway's.
    api_url: str = "http://krstock-gateway.krstock.svc.cluster.local:8000"
    api_key: str | None = None
    api_timeout_s: float = Field(default=5.0, gt=0)
    # KEDA redis scaler: the broker address (host:port) and an optional TriggerAuthentication.
    # Fully qualified too: KEDA resolves the address from its own namespace.
    redis_address: str = "krstock-redis.krstock.svc.cluster.local:6379"
    redis_database: int = Field(default=0, ge=0)
    keda_authentication_ref: str | None = None
    keda_cache_s: float = Field(default=30.0, ge=0)  # how long a KEDA discovery answer holds
    # Worker probes read files the worker touches (heartbeat bootstep) and creates (worker_ready).
    worker_heartbeat_file: str = "/tmp/krstock-worker-heartbeat"
    worker_ready_file: str = "/tmp/krstock-worker-ready"
    worker_heartbeat_max_age_s: int = Field(default=120, ge=10)
    # `krstock worker --metrics-port`: task and queue-length metrics for Prometheus (0: off).
    worker_metrics_port: int = Field(default=9808, ge=0, le=65535)
    # Periodic level-triggered resync of every ScanJob (status from the API, drift repair).
    resync_seconds: float = Field(default=60.0, gt=0)
    resync_concurrency: int = Field(default=8, ge=1, le=100)  # ScanJobs reconciled at once
    # Runtime endpoints.
    metrics_port: int = Field(default=9090, ge=0, le=65535)  # 0 disables
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    # An explicit API server URL (tests, local development); else in-cluster or kubeconfig.
    kube_url: str | None = None


@lru_cache(maxsize=1)
def get_settings() -> OperatorSettings:
    return OperatorSettings()
