"""Compatibility re-export: the price use case moved to :mod:`krstock.app.prices`.

``krstock.worker.tasks`` still imports ``refresh_open_signals`` from here; remove this module
once it imports ``krstock.app.prices`` instead.
"""

from krstock.app.prices import refresh_open_signals

__all__ = ["refresh_open_signals"]
