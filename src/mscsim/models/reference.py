"""Reference problems with closed-form answers, for tests and cross-checks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from mscsim.models.base import Array

__all__ = ["local_first_order_cells"]


def local_first_order_cells(
    times_day: ArrayLike, doses: Sequence[tuple[float, float]], half_life_days: float
) -> Array:
    r"""Return viable cells after repeated local doses with first-order loss.

    .. math:: N(t) = \sum_{i:\, t_i \le t} D_i \, 2^{-(t - t_i)/t_{1/2}}

    A value at a dose time includes that dose (the value just after it).

    Parameters
    ----------
    times_day : array_like, shape (n_times,)
        Output times (day).
    doses : sequence of (day, viable_cells)
        Dose times and viable cells deposited.
    half_life_days : float
        Half-life of viable cells at the site.

    Returns
    -------
    ndarray, shape (n_times,)
        Viable cells at the site.

    Examples
    --------
    >>> local_first_order_cells([0, 4, 8], [(0, 1e6), (4, 1e6)], 4.0).tolist()
    [1000000.0, 1500000.0, 750000.0]
    """
    t = np.asarray(times_day, dtype=float)
    k = math.log(2.0) / half_life_days
    total = np.zeros_like(t)
    for day, cells in doses:
        after = t >= day
        total[after] += cells * np.exp(-k * (t[after] - day))
    return total
