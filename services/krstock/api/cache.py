"""Compatibility re-export: the cache moved to :mod:`krstock.api.infra.cache`.

``krstock.worker.tasks`` still imports ``JsonCache`` from here; remove this module once it
imports ``krstock.api.infra.cache`` instead.
"""

from krstock.api.infra.cache import JsonCache

__all__ = ["JsonCache"]
