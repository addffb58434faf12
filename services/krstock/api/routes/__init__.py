"""Routers, one module per area: ``kr`` (the monolith's ``/api/kr``), ``common`` (its other
``/api`` routes), ``v1`` (``/api/v1``), ``internal`` (the scanner, signals and analyzer services)
and ``probes`` (every service's health, readiness and metrics)."""
