"""Limb ischemia: perfusion of the ischemic limb relative to the normal one."""

from __future__ import annotations

import math

import numpy as np

from mscsim.evidence.library import Parameter
from mscsim.models.base import Array, Params, n_param_rows
from mscsim.models.diseases.base import Outcome, baseline, library_parameters
from mscsim.models.diseases.registry import register_disease
from mscsim.spec.disease import LimbIschemiaSpec

__all__ = ["LimbIschemia"]

_LN2 = math.log(2.0)


class LimbIschemia:
    r"""Limb ischemia: perfusion ratio ``P`` of the ischemic to the normal limb.

    .. math::

        \dot P = k\,(1 + a\,e)\,(P_\infty - P)

    Untreated, ``P`` recovers from its baseline towards the plateau
    ``perfusion_plateau_ratio`` with half-time ``perfusion_half_life_days``;
    a full effect multiplies the recovery rate by ``1 + perfusion_max_acceleration``.

    Parameters
    ----------
    baseline_perfusion_ratio : float
    """

    name = "disease_limb_ischemia"
    key = "limb_ischemia"
    states: tuple[str, ...] = ("perfusion",)
    output_names: tuple[str, ...] = ("perfusion_ratio",)
    outcome: Outcome | None = Outcome(
        "perfusion_ratio",
        "ischemic / normal limb",
        False,
        "Perfusion of the ischemic limb relative to the normal limb",
    )

    def __init__(self, baseline_perfusion_ratio: float = 0.29):
        self.baseline_perfusion_ratio = float(baseline_perfusion_ratio)
        self.parameters: tuple[Parameter, ...] = library_parameters(self.name)

    def initial_state(self, params: Params) -> Array:
        """Return the baseline perfusion ratio (or the ``disease_baseline`` covariate)."""
        return baseline(params, self.baseline_perfusion_ratio)[None, :]

    def course(self, params: Params) -> tuple[Array, Array]:
        """Return the natural and per-effect matrices; see the class docstring."""
        size = n_param_rows(params)
        k = _LN2 / params["perfusion_half_life_days"]
        plateau = params["perfusion_plateau_ratio"]
        a = params["perfusion_max_acceleration"]
        natural, full = np.zeros((size, 1, 2)), np.zeros((size, 1, 2))
        natural[:, 0, 0], natural[:, 0, 1] = -k, k * plateau
        full[:, 0, 0], full[:, 0, 1] = -k * a, k * a * plateau
        return natural, full

    def outputs(self, x: Array, params: Params) -> dict[str, Array]:
        """Return the perfusion ratio."""
        return {"perfusion_ratio": x[0]}


register_disease(
    LimbIschemia, LimbIschemiaSpec, lambda spec: LimbIschemia(spec.baseline_perfusion_ratio)
)
