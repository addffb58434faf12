"""Structural-schema helpers shared by the operator and the offline CRD validator.

``apply_defaults`` does what the API server does when it stores a custom resource: it fills
``default`` values top-down (a default object is itself defaulted, absent objects stay absent).
The operator uses it so that a resource that reached it without server-side defaulting (an old CRD,
a test emulator) is read exactly as the CRD defines it.
"""

from __future__ import annotations

import copy
from typing import Any


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Return a copy of ``value`` with the schema's defaults filled in, recursively."""
    value = copy.deepcopy(value)
    return _default(schema, value)


def _default(schema: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = _default(sub, value[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in [k for k in value if k not in properties]:
                value[key] = _default(extra, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_default(schema["items"], item) for item in value]
    return value
