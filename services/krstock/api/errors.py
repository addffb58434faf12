"""Compatibility re-export: the error types moved to :mod:`krstock.api.infra.errors`.

``krstock.api.dispatch`` still imports ``ApiError`` from here; remove this module once it
imports ``krstock.api.infra.errors`` instead.
"""

from krstock.api.infra.errors import ApiError

__all__ = ["ApiError"]
