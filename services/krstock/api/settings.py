"""Transitional shim: the API settings are ``krstock.config.get_settings().api`` now.

Kept only until ``krstock.api`` and ``krstock.worker.tasks`` read the section directly; then delete.
"""

from __future__ import annotations

from krstock.config import ApiSection, get_settings

ApiSettings = ApiSection


def get_api_settings() -> ApiSection:
    return get_settings().api
