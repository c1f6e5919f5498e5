r"""The remainder, switches and activity of :class:`~mscsim.models.TherapyModel`, compiled.

Two numba kernels for a therapy model on the reduced kinetics
(:class:`~mscsim.models.CellKinetics`), so that a compiled engine can evaluate
them without calling Python. Both take float64 C-contiguous arrays
``kernel(t, y, p, out)`` (:data:`KERNEL_SIGNATURE`): column ``j`` is one patient
at time ``t[j]``, with states ``y[:, j]`` and prepared parameters ``p[:, j]``
named, row by row, by :func:`~mscsim.models.kernel_layout.kernel_parameters`. They return None.

State rows (fixed for :class:`~mscsim.models.CellKinetics`): 0-4 the cells
``lung``, ``blood``, ``liver_spleen``, ``target``, ``target_early``; 5
``immune_primed``; 6 ``immune_memory``; 7 ``factor``; 8 ``exposure``; 9
``exposure_total``; from 10 on the ``d = y.shape[0] - 10`` disease states
(``d = 0``: no disease, so no effect term and no factor switch).

:func:`remainder_kernel` writes what
:meth:`TherapyModel.remainder <mscsim.models.TherapyModel.remainder>` gives on
the rows of ``remainder_writes`` (cells and disease states), with the same
formulas in the same order of operations:

.. math::

    C &= X_0 + X_1 + X_2 + X_3 + X_4, \qquad
    \sigma = \text{excess}\; s(M)\; w(C) \\
    R_i &= -\sigma\,d_i\,X_i \quad (i \ne 3), \qquad
    R_3 = -\bigl(\sigma\,d_3\,X_3 + k_O \max(X_3 - \text{capacity}, 0)\bigr) \\
    R_{10 + i} &= e(F) \Bigl(\sum_{c < d} M_{i c}\,x_c + M_{i d}\Bigr)

with :math:`s` :func:`~mscsim.models.immunity.sensitisation`, :math:`w`
:func:`~mscsim.models.immunity.sensitised_weight` and :math:`e`
:func:`~mscsim.models.paracrine.effect` (their floors and ramps included). It
reads no state outside ``remainder_reads`` (cells, memory, factor, disease
states) and leaves the other rows of ``out`` untouched.

:func:`switch_kernel` writes, row by row,
:meth:`~mscsim.models.TherapyModel.switches` (``target - capacity``, then with a
disease ``factor - effect_floor_ng``) and
:meth:`~mscsim.models.TherapyModel.activity` (``min(M - MEMORY_FLOOR,
C - CELL_FLOOR)`` where the patient can be sensitised, else -1).

Both are tested against the NumPy methods (``tests/models/test_therapy_kernels.py``).
"""

from __future__ import annotations

import math

from numba import njit, types

from mscsim.models.base import Array
from mscsim.models.immunity import CELL_FLOOR, MEMORY_FLOOR
from mscsim.models.paracrine import EFFECT_FLOOR

__all__ = ["KERNEL_SIGNATURE", "remainder_kernel", "switch_kernel"]

KERNEL_SIGNATURE = types.void(
    types.float64[::1], types.float64[:, ::1], types.float64[:, ::1], types.float64[:, ::1]
)
"""``kernel(t, y, p, out)``: C-contiguous float64, shapes (k,), (n, k), (q, k), (n, k).

The same signature as :data:`mscsim.engine.compiled.KERNEL_SIGNATURE` (tested);
written here because models sit below the engine and do not import it.
"""

# The rows of ``p`` (:func:`mscsim.models.kernel_layout.kernel_parameters`) and of ``y``.
_EXCESS = 0
_ELIMINATION = 1
_CAPACITY = 6
_OVERFLOW = 7
_SENSITISABLE = 8
_EMAX = 9
_EC50 = 10
_HILL = 11
_FACTOR_FLOOR = 12
_MATRIX = 13

_N_CELLS = 5
_TARGET = 3
_MEMORY = 6
_FACTOR = 7
_FIRST_DISEASE = 10


@njit(cache=True, error_model="numpy")
def _maximum(a: float, b: float) -> float:  # pragma: no cover - compiled
    """Return ``np.maximum(a, b)`` for ``b`` not NaN (NaN in ``a`` propagates)."""
    return b if a < b else a


@njit(cache=True, error_model="numpy")
def _minimum(a: float, b: float) -> float:  # pragma: no cover - compiled
    """Return ``np.minimum(a, b)``: NaN in either propagates."""
    return a if (a <= b or a != a) else b


@njit(cache=True, error_model="numpy")
def _sensitisation(memory: float) -> float:  # pragma: no cover - compiled
    """Return :func:`~mscsim.models.immunity.sensitisation` of one memory value."""
    m = _maximum(memory, 0.0)
    share = m / (1.0 + m)
    floor = MEMORY_FLOOR / (1.0 + MEMORY_FLOOR)
    if share >= 2.0 * floor:
        return share
    return 2.0 * _maximum(share - floor, 0.0)


@njit(cache=True, error_model="numpy")
def _weight(cells: float) -> float:  # pragma: no cover - compiled
    """Return :func:`~mscsim.models.immunity.sensitised_weight` of one cell count."""
    ratio = _maximum(cells - CELL_FLOOR, 0.0) / _maximum(cells, CELL_FLOOR)
    square = ratio * ratio
    return square * square


@njit(cache=True, error_model="numpy")
def _effect(factor: float, emax: float, ec50: float, hill: float) -> float:  # pragma: no cover
    """Return :func:`~mscsim.models.paracrine.effect` of one factor value."""
    if factor <= 0.0:  # no factor: no effect (NumPy's ramp gives emax * 0 there too)
        return emax * 0.0
    x = factor / ec50  # factor > 0 (or NaN, which propagates as in NumPy)
    xn = x if hill == 1.0 else math.pow(x, hill)  # pow(x, 1) is x exactly
    share = xn / (1.0 + xn)
    floor = EFFECT_FLOOR / (1.0 + EFFECT_FLOOR)
    if share >= 2.0 * floor:
        return emax * share
    return emax * (2.0 * _maximum(share - floor, 0.0))


@njit(cache=True, error_model="numpy")
def _viable_cells(y: Array, j: int) -> float:  # pragma: no cover - compiled
    """Return the viable cells of column ``j``, summed row by row as NumPy does."""
    total: float = y[0, j]
    for c in range(1, _N_CELLS):
        total = total + y[c, j]
    return total


@njit(KERNEL_SIGNATURE, cache=True, error_model="numpy")
def remainder_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    r"""Write the therapy model's remainder on the cell and disease rows of ``out``.

    Column ``j``: :math:`-\sigma d_i X_i` on the five cell rows, minus
    :math:`k_O \max(X_3 - \text{capacity}, 0)` on ``target`` (row 3), and
    :math:`e(F)\,(M [x; 1])_i` on disease row ``10 + i`` (module docstring).
    Rows 5-9 are left as they are. Must equal
    :meth:`TherapyModel.remainder <mscsim.models.TherapyModel.remainder>` there
    (tested to a relative 1e-12).

    Parameters
    ----------
    t : ndarray, shape (k,)
        Times (days); the remainder does not depend on them.
    y : ndarray, shape (10 + d, k)
        States, one patient per column.
    p : ndarray, shape (len(kernel_parameters(d)), k)
        The prepared parameters named by :func:`~mscsim.models.kernel_layout.kernel_parameters`.
    out : ndarray, shape (10 + d, k)
        Written on rows 0-4 and from 10 on.
    """
    n_disease = y.shape[0] - _FIRST_DISEASE
    for j in range(t.size):
        excess_rate = p[_EXCESS, j]
        # A host memory cannot act on (excess 0) skips the ratios, which are finite
        # and non-negative, so NumPy's product is 0 there too.
        boost = excess_rate
        if excess_rate != 0.0:
            boost = excess_rate * _sensitisation(y[_MEMORY, j]) * _weight(_viable_cells(y, j))
        for c in range(_N_CELLS):
            deaths = boost * p[_ELIMINATION + c, j] * y[c, j]
            if c == _TARGET:  # and the overflow above capacity
                deaths = deaths + p[_OVERFLOW, j] * _maximum(y[c, j] - p[_CAPACITY, j], 0.0)
            out[c, j] = -deaths
        if n_disease <= 0:  # no disease, or the kinetics alone (7 states)
            continue
        drive = _effect(y[_FACTOR, j], p[_EMAX, j], p[_EC50, j], p[_HILL, j])
        for i in range(n_disease):
            row = _MATRIX + i * (n_disease + 1)
            total = 0.0
            for c in range(n_disease):
                total = total + p[row + c, j] * y[_FIRST_DISEASE + c, j]
            total = total + p[row + n_disease, j] * 1.0
            out[_FIRST_DISEASE + i, j] = drive * total


@njit(KERNEL_SIGNATURE, cache=True, error_model="numpy")
def switch_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    """Write the therapy model's switches, then its activity, into the rows of ``out``.

    Row 0: ``target - capacity``; with a disease row 1: ``factor -
    effect_floor_ng``; last row: ``min(M - MEMORY_FLOOR, C - CELL_FLOOR)`` where
    ``kinetics_sensitisable`` is not 0, else -1. Must equal
    :meth:`~mscsim.models.TherapyModel.switches` followed by
    :meth:`~mscsim.models.TherapyModel.activity` (tested).

    Parameters
    ----------
    t : ndarray, shape (k,)
        Times (days); unused.
    y : ndarray, shape (10 + d, k)
        States, one patient per column.
    p : ndarray, shape (len(kernel_parameters(d)), k)
        The prepared parameters named by :func:`~mscsim.models.kernel_layout.kernel_parameters`.
    out : ndarray, shape (2 + (d > 0), k)
        Every row written.
    """
    coupled = y.shape[0] > _FIRST_DISEASE
    last = 2 if coupled else 1
    for j in range(t.size):
        out[0, j] = y[_TARGET, j] - p[_CAPACITY, j]
        if coupled:
            out[1, j] = y[_FACTOR, j] - p[_FACTOR_FLOOR, j]
        if p[_SENSITISABLE, j] != 0.0:
            active = _minimum(y[_MEMORY, j] - MEMORY_FLOOR, _viable_cells(y, j) - CELL_FLOOR)
        else:
            active = -1.0
        out[last, j] = active
