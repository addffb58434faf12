"""The Celery application, built from Settings.

``celery -A krstock.worker.celery_app worker`` and ``krstock worker`` use the module-level ``app``
(environment settings). Tests and ``krstock run daily`` build their own with :func:`create_app`.
Reliability choices (see docs/pipeline.md): late acks, prefetch 1, reject on a lost worker, time
limits per queue, a Redis visibility timeout above the longest hard limit, JSON only.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from krstock.app.kinds import QUEUES, TASK_QUEUES
from krstock.config import Settings, get_settings
from krstock.worker.probes import install_probes
from krstock.worker.schedules import beat_schedule, default_jobs


def create_app(settings: Settings | None = None, *, eager: bool | None = None) -> Celery:
    """A configured app. ``eager`` runs tasks in the calling process (the laptop demo)."""
    settings = settings or get_settings()
    worker = settings.worker
    eager = worker.task_always_eager if eager is None else eager
    if settings.redis_url:
        broker = backend = settings.redis_url
    elif eager:
        broker, backend = "memory://", "cache+memory://"
    else:
        raise ValueError("KRSTOCK_REDIS_URL is not set: workers need Redis (or run eagerly)")

    app = Celery("krstock", broker=broker, backend=backend, include=["krstock.worker.tasks"])
    exchange = Exchange("krstock", type="direct")
    annotations: dict[str, dict[str, Any]] = {
        name: {
            "time_limit": worker.time_limit(queue),
            "soft_time_limit": worker.soft_time_limit(queue),
            "max_retries": worker.max_retries,
            "retry_backoff_max": worker.retry_backoff_max_s,
        }
        for name, queue in TASK_QUEUES.items()
    }
    transport = {
        "visibility_timeout": worker.effective_visibility_timeout_s,
        "unacked_restore_interval": worker.unacked_restore_interval_s,
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "health_check_interval": 15,
    }
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        timezone="Asia/Seoul",
        enable_utc=True,
        task_queues=[Queue(str(q), exchange, routing_key=str(q)) for q in QUEUES],
        task_default_queue="maintenance",
        task_default_exchange="krstock",
        task_default_routing_key="maintenance",
        task_routes={
            str(t): {"queue": str(q), "routing_key": str(q)} for t, q in TASK_QUEUES.items()
        },
        task_annotations=annotations,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        task_send_sent_event=True,
        worker_send_task_events=True,
        result_expires=7 * 24 * 3600,
        result_extended=True,
        broker_transport_options=transport,
        result_backend_transport_options={"socket_timeout": 30, "health_check_interval": 15},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # A second SIGTERM (cold shutdown) still gives the running task this long, then requeues.
        worker_soft_shutdown_timeout=float(min(worker.soft_margin_s, 60)),
        task_always_eager=eager,
        task_eager_propagates=eager,
        task_store_eager_result=False,
        beat_schedule=beat_schedule(default_jobs(worker)),
        beat_schedule_filename=worker.beat_schedule_file,
        krstock_heartbeat_file=worker.worker_heartbeat_file,
        krstock_ready_file=worker.worker_ready_file,
        krstock_heartbeat_interval=worker.worker_heartbeat_interval_s,
    )
    install_probes(app)
    from krstock.worker import signals

    signals.connect_metrics()
    return app


_APP: Celery | None = None


def get_app() -> Celery:
    """The environment-configured app, built on first use (loud without Redis: a worker must
    never fall back to an in-memory broker by accident)."""
    global _APP
    if _APP is None:
        _APP = create_app()
    return _APP


def __getattr__(name: str) -> Celery:
    # ``celery -A krstock.worker.celery_app`` and ``from ... import app`` build it lazily, so
    # importing create_app never needs Redis.
    if name in ("app", "celery"):
        return get_app()
    raise AttributeError(name)
