"""Compatibility re-export: API-key management moved to :mod:`krstock.api.infra.apikeys`.

``krstock apikey`` and ``krstock demo`` (``krstock.commands.apikey``, ``krstock.commands.demo``)
still import from here; remove this module once they import ``krstock.api.infra.apikeys``.
"""

from krstock.api.infra.apikeys import ApiKeyError, create_key, list_keys, revoke_key

__all__ = ["ApiKeyError", "create_key", "list_keys", "revoke_key"]
