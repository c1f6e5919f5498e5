"""Write the TOML the generator builds (mappings of tables, arrays and scalars)."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

__all__ = ["dumps", "toml_value"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """Return a TOML value: inline tables and arrays for nested data.

    Examples
    --------
    >>> toml_value([1, 2.5, float("nan"), "a", {"b": True}])
    '[1, 2.5, nan, "a", {b = true}]'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def dumps(doc: dict[str, Any]) -> str:
    """Write a document: top-level tables as ``[name]``, arrays of tables as ``[[name]]``.

    Examples
    --------
    >>> print(dumps({"a": 1, "t": {"x": "y"}, "arr": [{"k": 1}, {"k": 2}]}), end="")
    a = 1
    <BLANKLINE>
    [t]
    x = "y"
    <BLANKLINE>
    [[arr]]
    k = 1
    <BLANKLINE>
    [[arr]]
    k = 2
    """
    lines = [
        f"{_key(k)} = {toml_value(v)}"
        for k, v in doc.items()
        if not isinstance(v, dict) and not _is_table_array(v)
    ]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {toml_value(b)}" for a, b in v.items()]
        elif _is_table_array(v):
            for item in v:
                lines += ["", f"[[{_key(k)}]]"]
                lines += [f"{_key(a)} = {toml_value(b)}" for a, b in item.items()]
    return "\n".join(lines).lstrip("\n") + "\n"
