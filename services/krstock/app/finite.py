"""Values as strict JSON: PostgreSQL's JSONB (and the API) reject NaN and infinities."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def finite(value: Any) -> Any:
    """``value`` with every NaN/±inf float replaced by None and numpy scalars made plain
    (recursively through dicts, lists and tuples). A value the data cannot give is null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value
