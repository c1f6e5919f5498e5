"""Values ready for plain JSON: what ``--json`` prints and the web API returns."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["plain"]


def plain(value: Any) -> Any:
    """Return ``value`` ready for plain JSON.

    ``-0.0`` becomes ``0.0``, NaN ``null`` and infinities ``"inf"`` / ``"-inf"``;
    numpy scalars become Python numbers and tuples lists. Other values keep full
    precision.

    Examples
    --------
    >>> plain({"a": -0.0, "b": [float("nan"), float("inf")], "c": (1, "x")})
    {'a': 0.0, 'b': [None, 'inf'], 'c': [1, 'x']}
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    item = getattr(value, "item", None)
    if item is not None and callable(item) and not isinstance(value, int | float):
        with_item = item()
        return plain(with_item) if isinstance(with_item, int | float | bool) else str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value + 0.0
    return str(value)
