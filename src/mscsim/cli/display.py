"""What commands print: tables that keep their values when piped, plain JSON, cell counts."""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Any

from mscsim.cli.common import out_console
from mscsim.io.plain import plain

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["cell_count", "plain", "print_json", "print_table"]

_UNLIMITED = 1_000_000
"""Line width for output that is not a terminal: no value is cut or wrapped."""


def print_table(table: Table) -> None:
    """Print ``table``: fitted to a terminal, or with every value in full when piped."""
    if out_console.is_terminal:
        out_console.print(table)
        return
    from rich.console import Console

    Console(
        file=sys.stdout, width=_UNLIMITED, highlight=False, soft_wrap=True, color_system=None
    ).print(table)


def print_json(data: Any) -> None:
    """Print ``data`` as indented plain JSON (see :func:`plain`) on stdout."""
    sys.stdout.write(json.dumps(plain(data), indent=2, allow_nan=False) + "\n")


def cell_count(x: float) -> str:
    """Write a number of cells for a table: 3 significant digits, ``<1`` below one cell.

    Examples
    --------
    >>> [cell_count(v) for v in (3.0123e7, 12.0, 7.16e-15, 0.0, -0.0)]
    ['3.01e+07', '12', '<1', '0', '0']
    """
    if math.isnan(x):
        return "-"
    if x <= 0:
        return "0"
    if x < 1:
        return "<1"
    return f"{x:.3g}"
