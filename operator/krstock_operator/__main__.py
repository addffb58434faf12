"""``python -m krstock_operator``: the operator process (standalone, cluster-wide, JSON logs).

Liveness at ``KRSTOCK_OPERATOR_LIVENESS_ENDPOINT`` (default ``http://0.0.0.0:8080/healthz``),
Prometheus metrics on ``KRSTOCK_OPERATOR_METRICS_PORT`` (default 9090).
"""

from __future__ import annotations

import os

import kopf

from krstock_operator import handlers  # registers the handlers
from krstock_operator.config import get_settings


def main() -> None:
    settings = get_settings()
    log_format = os.environ.get("KRSTOCK_LOG_FORMAT", "json")
    kopf.configure(
        verbose=False,
        log_format=kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.FULL,
        log_prefix=False,
    )
    assert handlers.STATE is not None
    # Standalone: one replica (Deployment strategy Recreate), no peering objects needed.
    kopf.run(standalone=True, clusterwide=True, liveness_endpoint=settings.liveness_endpoint)


if __name__ == "__main__":
    main()
