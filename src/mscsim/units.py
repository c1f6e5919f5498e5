"""Units used throughout mscsim: time in days, cells as counts of viable cells.

Helpers here convert the few other units users write (hours, cells per kg) and
refuse magnitudes that cannot be right.
"""

from __future__ import annotations

import math

from mscsim.errors import UnitError

__all__ = ["HOURS_PER_DAY", "cells_from_per_kg", "days_from_hours"]

HOURS_PER_DAY = 24.0


def days_from_hours(hours: float) -> float:
    """Convert a duration in hours to days.

    Examples
    --------
    >>> days_from_hours(12)
    0.5
    """
    return hours / HOURS_PER_DAY


def cells_from_per_kg(cells_per_kg: float, weight_kg: float) -> float:
    """Resolve a per-kilogram cell dose to a total number of cells.

    Parameters
    ----------
    cells_per_kg : float
        Cells per kilogram of body weight.
    weight_kg : float
        Body weight in kilograms, > 0.

    Returns
    -------
    float
        Total number of cells.

    Raises
    ------
    UnitError
        If the weight is not a positive finite number.

    Examples
    --------
    >>> cells_from_per_kg(1e6, 65)
    65000000.0
    """
    if not (math.isfinite(weight_kg) and weight_kg > 0):
        raise UnitError(f"weight_kg = {weight_kg!r}: must be a positive number of kilograms")
    return cells_per_kg * weight_kg
