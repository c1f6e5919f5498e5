r"""Host immunity to allogeneic cells: innate clearance and donor-specific memory.

Allogeneic cells are cleared by an unsensitised host at ``immune_clearance_per_day``
(:math:`k_I`) in every compartment. Exposure to them also primes an adaptive
response, which becomes memory and raises every compartment's elimination rate
for later doses:

.. math::

    \dot P &= \frac{g\,C}{X_{50}} - k_P P, \qquad
    \dot M = k_P P - k_M M, \qquad
    s(M) = \frac{M}{1 + M} \\
    \text{elimination}_i &\to \bigl(1 + (m - 1)\,s(M)\bigr)\,\text{elimination}_i

``C`` is the number of viable cells in the body, :math:`X_{50}` the exposure
(cell-days) that primes half-maximal sensitisation, :math:`k_P` and :math:`k_M` the
priming and memory decay rates and ``m`` the clearance multiplier of a fully
sensitised host. The priming gain

.. math::

    g = \text{allogeneic} \times \text{immunogenicity}
        \times (1 - \text{hla\_match}) \times (1 - \text{immunosuppression})

is 0 for autologous cells, for a fully HLA-matched donor and under complete
suppression of the adaptive response. ``P`` and ``M`` are linear in the cells;
only the sensitised clearance (memory times cells) is nonlinear. It is taken as 0
below :data:`MEMORY_FLOOR`, and it fades out smoothly as the body's viable cells
fall to :data:`CELL_FLOOR` (:func:`sensitised_weight`), so that once cells are
gone the model is exactly linear (:func:`sensitised_switch`).

Assumptions: sensitisation is scaled by the share of mismatched HLA loci, though
the human review R42 found no effect of the number of mismatches on antibody
formation; immunosuppression acts on priming only (as FK-506 did in R44), not on
the innate clearance.
"""

from __future__ import annotations

import math

import numpy as np

from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array, Params

__all__ = [
    "CELL_FLOOR",
    "IMMUNE_COVARIATES",
    "IMMUNITY_MODEL",
    "MEMORY_FLOOR",
    "covariate",
    "immune_rates",
    "immunity_parameters",
    "priming_gain",
    "sensitisation",
    "sensitised_switch",
    "sensitised_weight",
]

IMMUNITY_MODEL = "msc_immunity"

MEMORY_FLOOR = 1e-6
"""Memory below which sensitisation is taken as 0 (a millionth of half-maximal)."""

CELL_FLOOR = 1.0
"""With this many viable cells in the body or fewer, memory no longer clears them faster."""

IMMUNE_COVARIATES: dict[str, float] = {
    "hla_match": 0.0,
    "immunosuppression": 0.0,
    "immunogenicity": 1.0,
    "cell_survival": 1.0,
}
"""Optional per-patient covariates and their values when a parameter set lacks them:
fraction of matched HLA loci, fraction of the adaptive response suppressed, and the
cell source's immunogenicity and survival relative to the reference."""


def immunity_parameters() -> tuple[Parameter, ...]:
    """Return the library's immunity parameters."""
    return load_library().for_model(IMMUNITY_MODEL)


def covariate(params: Params, name: str) -> Array:
    """Return covariate ``name`` of :data:`IMMUNE_COVARIATES`, its default if absent."""
    if name in params:
        return params[name]
    return np.array([IMMUNE_COVARIATES[name]])


def priming_gain(params: Params) -> Array:
    """Return the priming gain ``g`` (0 for autologous cells), shape ``(P,)``."""
    gain: Array = (
        params["is_allogeneic"]
        * covariate(params, "immunogenicity")
        * (1.0 - covariate(params, "hla_match"))
        * (1.0 - covariate(params, "immunosuppression"))
    )
    return gain


def immune_rates(params: Params) -> dict[str, Array]:
    """Return the innate clearance ``kI``, priming ``prime`` (per cell-day), ``kP``, ``kM``."""
    allo = params["is_allogeneic"] * covariate(params, "immunogenicity")
    return {
        "kI": params["immune_clearance_per_day"] * allo,
        "prime": priming_gain(params) / params["sensitising_exposure_cell_days"],
        "kP": math.log(2.0) / params["immune_priming_half_life_days"],
        "kM": math.log(2.0) / params["immune_memory_half_life_days"],
    }


def sensitisation(memory: Array) -> Array:
    """Return the sensitisation ``M / (1 + M)`` (0 to 1), 0 below :data:`MEMORY_FLOOR`.

    Between the floor and twice it a straight ramp joins 0 to ``M / (1 + M)``, so
    it never jumps and an error-controlled integrator needs no extra steps where
    memory crosses the floor.

    Examples
    --------
    >>> sensitisation(np.array([0.0, 1e-9, 1.0, 3.0]))
    array([0.  , 0.  , 0.5 , 0.75])
    """
    m = np.maximum(memory, 0.0)
    share = m / (1.0 + m)
    floor = MEMORY_FLOOR / (1.0 + MEMORY_FLOOR)
    out: Array = np.where(share >= 2.0 * floor, share, 2.0 * np.maximum(share - floor, 0.0))
    return out


def sensitised_weight(cells: Array) -> Array:
    """Return ``(max(C - CELL_FLOOR, 0) / max(C, CELL_FLOOR))**2``: 0 at the floor, near 1 above.

    It fades the sensitised clearance out as the last viable cell goes, smoothly
    (value and slope are 0 at the floor), so the fast engine needs no refinement
    there and keeps its order.

    Examples
    --------
    >>> sensitised_weight(np.array([0.0, 1.0, 2.0, 1e6]))
    array([0.      , 0.      , 0.25    , 0.999998])
    """
    ratio = np.maximum(cells - CELL_FLOOR, 0.0) / np.maximum(cells, CELL_FLOOR)
    out: Array = ratio * ratio
    return out


def sensitised_switch(memory: Array, cells: Array, params: Params) -> Array:
    """Return a function that is positive exactly where memory clears cells faster.

    That needs memory above :data:`MEMORY_FLOOR`, at least :data:`CELL_FLOOR` cells
    and a clearance multiplier above 1; elsewhere the kinetics are linear.
    """
    active = np.minimum(memory - MEMORY_FLOOR, cells - CELL_FLOOR)
    out: Array = np.where(params["sensitised_clearance_multiplier"] > 1.0, active, -1.0)
    return out
