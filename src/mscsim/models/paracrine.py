r"""Paracrine pharmacodynamics: living cells secrete a factor whose effect saturates.

.. math::

    \dot F = \sigma\,\pi\,\bigl(T + E + s\,(L + B + H)\bigr) - k_F F, \qquad
    \mathrm{effect} = E_{max}\,\frac{(F/EC_{50})^n}{1 + (F/EC_{50})^n}

``F`` is the factor at the target (ng), :math:`\sigma` the secretion rate per
viable cell of the reference lot, :math:`\pi` the product's potency, ``s`` the
share of factor from cells outside the target (lung, blood, liver/spleen) that
acts there, :math:`k_F = \ln 2 / t_{1/2,F}`. Cells at the target count fully.

The factor is linear in the cells, so it is integrated exactly with them. An
effect below :data:`EFFECT_FLOOR` (relative to its largest value) is taken as 0,
reached by a straight ramp from twice the floor, so it never jumps (a jump
would cost an error-controlled integrator many steps at every crossing):
after the last cells are gone the model is exactly linear again, and the fast
engine leaves its Runge-Kutta stages (the switch is the factor minus
:func:`effect_floor`).
"""

from __future__ import annotations

import math

import numpy as np

from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array, Params

__all__ = [
    "EFFECT_FLOOR",
    "PARACRINE_MODEL",
    "effect",
    "effect_floor",
    "effect_formulas",
    "factor_rate",
    "paracrine_parameters",
    "secretion_per_cell",
]

PARACRINE_MODEL = "msc_paracrine"

EFFECT_FLOOR = 1e-6
"""An effect below this share of its largest value is taken as exactly 0 (its
contribution to any outcome is below a millionth of a full effect's)."""


def paracrine_parameters() -> tuple[Parameter, ...]:
    """Return the library's paracrine parameters (secretion, factor, Emax model)."""
    return load_library().for_model(PARACRINE_MODEL)


def secretion_per_cell(params: Params) -> Array:
    """Return secretion per viable cell, ng/day, potency included."""
    rate: Array = params["potency"] * params["secretion_per_million_cells"] * 1e-6
    return rate


def factor_rate(params: Params) -> Array:
    """Return the factor's first-order loss rate, 1/day."""
    rate: Array = math.log(2.0) / params["factor_half_life_days"]
    return rate


def effect(factor: Array, params: Params) -> Array:
    """Return the effect (0 to ``effect_emax``) of ``factor`` ng at the target.

    Examples
    --------
    >>> p = {"effect_emax": np.array([1.0]), "effect_ec50_ng": np.array([2.0]),
    ...      "effect_hill": np.array([1.0])}
    >>> effect(np.array([0.0, 2.0, 6.0]), p)
    array([0.  , 0.5 , 0.75])
    """
    x = np.maximum(factor, 0.0) / params["effect_ec50_ng"]
    xn = x ** params["effect_hill"]
    out: Array = params["effect_emax"] * _above_floor(xn / (1.0 + xn))
    return out


_FLOOR_SHARE = EFFECT_FLOOR / (1.0 + EFFECT_FLOOR)


def _above_floor(share: Array) -> Array:
    """Return ``share`` from twice the floor up, 0 below the floor, a straight ramp between.

    Continuous, and equal to ``share`` wherever the effect is at least two
    millionths of its largest value.
    """
    out: Array = np.where(
        share >= 2.0 * _FLOOR_SHARE, share, 2.0 * np.maximum(share - _FLOOR_SHARE, 0.0)
    )
    return out


def effect_floor(params: Params) -> Array:
    """Return the factor (ng) below which the effect is taken as 0, shape ``(P,)``.

    Below it the model is linear. The floor is where :func:`effect` drops to 0:
    ``(F / EC50)^n = EFFECT_FLOOR``.
    """
    floor: Array = params["effect_ec50_ng"] * EFFECT_FLOOR ** (1.0 / params["effect_hill"])
    return floor


def effect_formulas(factor: str, params: Params) -> dict[str, str]:
    """Return :func:`effect` of the quantity named ``factor`` as SBML L3 formulas.

    Two named quantities, for one patient (parameters of shape ``(1,)``):
    ``effect_saturation`` (``x^n / (1 + x^n)`` with ``x = max(F, 0) / EC50``)
    and ``effect`` (``Emax`` times it, with the same floor and ramp).

    Examples
    --------
    >>> p = {"effect_emax": np.array([1.0]), "effect_ec50_ng": np.array([2.0]),
    ...      "effect_hill": np.array([1.0])}
    >>> effect_formulas("F", p)["effect_saturation"]
    '(piecewise(F, F > 0, 0) / 2.0) ^ 1.0 / (1 + (piecewise(F, F > 0, 0) / 2.0) ^ 1.0)'
    """
    emax, ec50, hill = (
        _number(params[name]) for name in ("effect_emax", "effect_ec50_ng", "effect_hill")
    )
    xn = f"(piecewise({factor}, {factor} > 0, 0) / {ec50}) ^ {hill}"
    share = "effect_saturation"
    low, high = _number(_FLOOR_SHARE), _number(2.0 * _FLOOR_SHARE)
    ramp = f"piecewise(2 * ({share} - {low}), {share} > {low}, 0)"
    return {
        share: f"{xn} / (1 + {xn})",
        "effect": f"{emax} * piecewise({share}, {share} >= {high}, {ramp})",
    }


def _number(value: Array | float) -> str:
    """Write one patient's value so that an SBML formula parser reads back the same double."""
    text = repr(float(np.ravel(value)[0]) if np.ndim(value) else float(value))
    return f"({text})" if text.startswith("-") else text
