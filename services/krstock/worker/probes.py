"""Kubernetes probes from files, not ``celery inspect ping``.

Liveness: a bootstep touches the heartbeat file from the worker's own timer; if the consumer loop
hangs, the file goes stale and the kubelet restarts the pod (``find FILE -mmin -1`` or an age
check in ``krstock worker-probe``). Readiness: the ready file exists from ``worker_ready`` until
shutdown begins, so a draining worker stops receiving traffic while it finishes its task.

Celery is imported only where the worker installs the probes: ``krstock worker-probe`` runs every
few seconds under a short timeout and needs nothing but :func:`heartbeat_age`.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)


def _touch(path: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"{time.time():.3f}\n")


def _remove(path: str) -> None:
    Path(path).unlink(missing_ok=True)


@functools.cache
def heartbeat_step() -> type:
    """The bootstep that touches the heartbeat file every ``worker_heartbeat_interval_s`` from
    the worker timer (a class built on first use, so that importing this module needs no Celery)."""
    from celery import bootsteps

    class HeartbeatStep(bootsteps.StartStopStep):
        requires = ("celery.worker.components:Timer",)

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.tref: Any = None

        def start(self, worker: Any) -> None:
            conf = worker.app.conf
            path = conf.krstock_heartbeat_file
            _touch(path)
            self.tref = worker.timer.call_repeatedly(
                conf.krstock_heartbeat_interval, _touch, (path,), priority=10
            )

        def stop(self, worker: Any) -> None:
            if self.tref is not None:
                self.tref.cancel()
                self.tref = None
            _remove(worker.app.conf.krstock_heartbeat_file)

    return HeartbeatStep


def heartbeat_age(path: str) -> float | None:
    """Seconds since the heartbeat file was last touched, or None when it is absent."""
    try:
        return time.time() - Path(path).stat().st_mtime
    except FileNotFoundError:
        return None


def install_probes(app: Celery) -> None:
    """Add the heartbeat bootstep and the readiness signal handlers to ``app``."""
    from celery.signals import worker_ready, worker_shutdown, worker_shutting_down

    app.steps["worker"].add(heartbeat_step())

    def on_ready(sender: Any = None, **_: Any) -> None:
        if sender is not None and sender.app is app:
            _touch(app.conf.krstock_ready_file)

    def on_shutting_down(**_: Any) -> None:
        _remove(app.conf.krstock_ready_file)

    worker_ready.connect(on_ready, weak=False)
    worker_shutting_down.connect(on_shutting_down, weak=False)
    worker_shutdown.connect(on_shutting_down, weak=False)
