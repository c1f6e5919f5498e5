"""Where the therapy model's compiled kernels find things: the rows of ``p`` and of ``y``.

Kept apart from :mod:`mscsim.models.kernels` so that preparing parameters does
not load numba (:class:`~mscsim.models.TherapyModel` loads the kernels only
when an engine asks for them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mscsim.models.base import Array, Params
from mscsim.models.immunity import sensitised_share

__all__ = [
    "EFFECT_PARAMETERS",
    "ELIMINATION_PARAMETERS",
    "KINETIC_PARAMETERS",
    "Kernel",
    "effect_matrix_columns",
    "effect_matrix_parameters",
    "kernel_parameters",
    "kinetic_columns",
]

CELL_COMPARTMENTS: tuple[str, ...] = ("lung", "blood", "liver_spleen", "target", "target_early")
"""The reduced kinetics' cell compartments (``models.kinetics.CELL_COMPARTMENTS``, tested)."""

ELIMINATION_PARAMETERS: tuple[str, ...] = tuple(
    f"kinetics_elimination_{c}_per_day" for c in CELL_COMPARTMENTS
)
"""Each cell compartment's column of ``kinetics_elimination_per_day``."""

KINETIC_PARAMETERS: tuple[str, ...] = (
    "kinetics_memory_excess",
    *ELIMINATION_PARAMETERS,
    "target_capacity_cells",
    "kinetics_overflow_per_day",
    "kinetics_sensitisable",
)
"""Rows 0-8 of ``p``: what the kinetics' remainder and activity read."""

EFFECT_PARAMETERS: tuple[str, ...] = (
    "effect_emax",
    "effect_ec50_ng",
    "effect_hill",
    "effect_floor_ng",
)
"""Rows 9-12 of ``p`` with a disease: the effect and its floor."""


def effect_matrix_parameters(n_disease: int) -> tuple[str, ...]:
    """Return the names of the entries of ``disease_effect_matrix``, row-major.

    Examples
    --------
    >>> effect_matrix_parameters(1)
    ('disease_effect_matrix_0_0', 'disease_effect_matrix_0_1')
    """
    return tuple(
        f"disease_effect_matrix_{i}_{c}" for i in range(n_disease) for c in range(n_disease + 1)
    )


def kernel_parameters(n_disease: int) -> tuple[str, ...]:
    """Return the prepared parameters forming the rows of ``p``, in order.

    :data:`KINETIC_PARAMETERS`, then with ``n_disease`` disease states
    :data:`EFFECT_PARAMETERS` and the entries of the effect matrix
    (:func:`effect_matrix_parameters`).

    Examples
    --------
    >>> len(kernel_parameters(0)), len(kernel_parameters(2))
    (9, 19)
    """
    if not n_disease:
        return KINETIC_PARAMETERS
    return (*KINETIC_PARAMETERS, *EFFECT_PARAMETERS, *effect_matrix_parameters(n_disease))


def kinetic_columns(prepared: Params) -> dict[str, Array]:
    """Return the kinetics' kernel parameters that ``prepared`` holds only in other shapes.

    Each of shape ``(1,)`` or ``(P,)``: the columns of
    ``kinetics_elimination_per_day`` and ``kinetics_sensitisable`` (1 where the
    multiplier exceeds 1 and :func:`~mscsim.models.immunity.sensitised_share`
    is above 0, else 0: the activity's condition).

    Parameters
    ----------
    prepared : mapping of str to ndarray
        From :meth:`CellKinetics.prepare <mscsim.models.CellKinetics.prepare>`.
    """
    elimination = prepared["kinetics_elimination_per_day"]
    out = {name: elimination[:, c] for c, name in enumerate(ELIMINATION_PARAMETERS)}
    acts = (prepared["sensitised_clearance_multiplier"] > 1.0) & (sensitised_share(prepared) > 0.0)
    out["kinetics_sensitisable"] = acts.astype(np.float64)
    return out


def effect_matrix_columns(prepared: Params, n_disease: int) -> dict[str, Array]:
    """Return the entries of ``disease_effect_matrix`` (``(P, d, d + 1)``), one name each.

    Named by :func:`effect_matrix_parameters`, each of shape ``(1,)`` or ``(P,)``.
    """
    matrix = prepared["disease_effect_matrix"]
    names = effect_matrix_parameters(n_disease)
    return {
        name: matrix[:, k // (n_disease + 1), k % (n_disease + 1)] for k, name in enumerate(names)
    }


class Kernel:
    """One of :mod:`mscsim.models.kernels`' compiled functions, loaded when first called.

    Building a model does not load numba; the engine calls the function (or
    asks for it through :attr:`dispatcher`) only when it runs compiled.
    """

    def __init__(self, name: str):
        self.name = name

    @property
    def dispatcher(self) -> Callable[..., None]:
        """The numba-compiled function."""
        from mscsim.models import kernels

        function: Callable[..., None] = getattr(kernels, self.name)
        return function

    def __call__(self, t: Array, y: Array, p: Array, out: Array) -> None:
        """Call the compiled function (loading it the first time)."""
        self.dispatcher(t, y, p, out)

    def __repr__(self) -> str:
        return f"mscsim.models.kernels.{self.name}"
