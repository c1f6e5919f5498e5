"""Hereditary spinocerebellar ataxia on the SARA scale."""

from __future__ import annotations

import math

import numpy as np

from mscsim.evidence.library import Parameter
from mscsim.models.base import Array, Params, n_param_rows
from mscsim.models.diseases.base import Outcome, baseline, library_parameters
from mscsim.models.diseases.registry import register_disease
from mscsim.spec.disease import Genotype, ScaSpec

__all__ = ["SpinocerebellarAtaxia"]

_LN2 = math.log(2.0)
_DAYS_PER_YEAR = 365.25


class SpinocerebellarAtaxia:
    r"""Hereditary spinocerebellar ataxia on the SARA scale (0-40, higher is worse).

    Two states: the underlying score ``D`` and a symptomatic improvement ``U``
    (points). Untreated, ``D`` rises at the genotype's rate ``r`` (points/year) and
    ``U = 0``:

    .. math::

        \dot D = r\,(1 - p\,e), \qquad \dot U = k_U\,(U_{max}\,e - U)

    ``p`` (``sara_max_slowing``) is the share of progression a full effect halts
    (kept after stopping); ``U`` follows the effect towards ``U_max``
    (``sara_max_improvement_points``) with half-time
    ``sara_benefit_half_life_days`` and fades the same way when cells are gone.
    The reported score is ``D - U`` clipped to 0-40.

    Parameters
    ----------
    genotype : Genotype
        Chooses ``sara_progression_<genotype>_per_year``.
    baseline_score : float
        SARA at day 0.
    """

    name = "disease_sca"
    key = "sca"
    states: tuple[str, ...] = ("sara_underlying", "sara_improvement")
    output_names: tuple[str, ...] = ("sara_score",)
    outcome: Outcome | None = Outcome(
        "sara_score", "SARA points (0-40)", True, "Scale for the Assessment and Rating of Ataxia"
    )

    def __init__(self, genotype: Genotype | str = Genotype.POOLED, baseline_score: float = 0.0):
        self.genotype = Genotype(genotype)
        self.baseline_score = float(baseline_score)
        self.slope_name = f"sara_progression_{self.genotype.value.lower()}_per_year"
        self.parameters: tuple[Parameter, ...] = tuple(
            p
            for p in library_parameters(self.name)
            if not p.name.startswith("sara_progression_") or p.name == self.slope_name
        )

    def initial_state(self, params: Params) -> Array:
        """Return ``D = baseline_score`` (or the ``disease_baseline`` covariate) and ``U = 0``."""
        d = baseline(params, self.baseline_score)
        return np.stack([d, np.zeros_like(d)])

    def course(self, params: Params) -> tuple[Array, Array]:
        """Return the natural and per-effect matrices; see the class docstring."""
        size = n_param_rows(params)
        r = params[self.slope_name] / _DAYS_PER_YEAR
        k = _LN2 / params["sara_benefit_half_life_days"]
        natural, full = np.zeros((size, 2, 3)), np.zeros((size, 2, 3))
        natural[:, 0, 2] = r
        natural[:, 1, 1] = -k
        full[:, 0, 2] = -params["sara_max_slowing"] * r
        full[:, 1, 2] = k * params["sara_max_improvement_points"]
        return natural, full

    def outputs(self, x: Array, params: Params) -> dict[str, Array]:
        """Return the SARA score, clipped to 0-40."""
        return {"sara_score": np.clip(x[0] - x[1], 0.0, 40.0)}


register_disease(
    SpinocerebellarAtaxia,
    ScaSpec,
    lambda spec: SpinocerebellarAtaxia(spec.genotype, spec.baseline_score),
)
