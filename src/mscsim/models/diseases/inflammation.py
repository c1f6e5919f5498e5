"""A generic inflammatory index with indirect-response kinetics."""

from __future__ import annotations

import math

import numpy as np

from mscsim.evidence.library import Parameter
from mscsim.models.base import Array, Params, n_param_rows
from mscsim.models.diseases.base import Outcome, baseline, library_parameters
from mscsim.models.diseases.registry import register_disease
from mscsim.spec.disease import InflammationSpec

__all__ = ["Inflammation"]

_LN2 = math.log(2.0)


class Inflammation:
    r"""A generic inflammatory index with indirect-response kinetics (higher is worse).

    .. math::

        \dot I = k\,(1 - I_{max}\,e) - k\,I

    The index is scaled so that the untreated steady state is 1; production is
    inhibited by the effect up to ``inflammation_max_inhibition`` and the index
    turns over with half-life ``inflammation_half_life_days``. Under a
    constant effect ``e`` it settles at ``1 - I_max e``.

    Parameters
    ----------
    baseline_index : float
    """

    name = "disease_inflammation"
    key = "inflammation"
    states: tuple[str, ...] = ("inflammation",)
    output_names: tuple[str, ...] = ("inflammation_index",)
    outcome: Outcome | None = Outcome(
        "inflammation_index",
        "x untreated steady state",
        True,
        "Generic inflammatory index (GvHD- or ARDS-like use)",
    )

    def __init__(self, baseline_index: float = 1.0):
        self.baseline_index = float(baseline_index)
        self.parameters: tuple[Parameter, ...] = library_parameters(self.name)

    def initial_state(self, params: Params) -> Array:
        """Return the baseline index (or the ``disease_baseline`` covariate)."""
        return baseline(params, self.baseline_index)[None, :]

    def course(self, params: Params) -> tuple[Array, Array]:
        """Return the natural and per-effect matrices; see the class docstring."""
        size = n_param_rows(params)
        k = _LN2 / params["inflammation_half_life_days"]
        natural, full = np.zeros((size, 1, 2)), np.zeros((size, 1, 2))
        natural[:, 0, 0], natural[:, 0, 1] = -k, k
        full[:, 0, 1] = -k * params["inflammation_max_inhibition"]
        return natural, full

    def outputs(self, x: Array, params: Params) -> dict[str, Array]:
        """Return the inflammatory index."""
        return {"inflammation_index": x[0]}


register_disease(Inflammation, InflammationSpec, lambda spec: Inflammation(spec.baseline_index))
