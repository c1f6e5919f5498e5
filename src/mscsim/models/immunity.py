r"""Host immunity to the cells: innate clearance, donor-specific memory and IBMIR.

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

Only some allogeneic recipients become sensitised: the human review R42 found
donor-specific antibodies in 11.51% of them, with no effect of the number of
doses or of HLA mismatches. Memory therefore speeds clearance by
:math:`\sigma = (m - 1)\,s(M)\,w(C)\,\delta` (:func:`sensitised_share`), where
:math:`\delta` is the patient's ``forms_dsa`` (0 or 1, drawn with probability
``dsa_probability`` for each patient of a population) or, in a single scenario
without that covariate, the probability itself. A single scenario thus gives the
*expected* clearance multiplier over allogeneic recipients, not the course of one
patient (who is either sensitised or not); a population draws who is.

Assumptions: sensitisation is scaled by the share of mismatched HLA loci, though
R42 found no effect of the number of HLA mismatches (nor of the number of doses)
on antibody formation; immunosuppression acts on priming only (as FK-506 did in
R44), not on the innate clearance.

Intravascular cells also meet the instant blood-mediated inflammatory reaction
(IBMIR): MSCs can trigger it after intravenous infusion, and freeze-thawed cells
have impaired blood-regulatory properties (R76). It is modelled as a loss at the
moment of administration of an intravenous or intra-arterial dose
(:func:`ibmir_loss`), growing with the dose per kg of body weight:

.. math::

    \text{lost} = \min\Bigl(1,\; L_{max}\, q\, \frac{D/W}{D/W + D_{50}}\Bigr)

with :math:`L_{max}` ``ibmir_max_loss``, :math:`D_{50}`
``ibmir_half_dose_cells_per_kg``, ``D`` the viable cells of the administration,
``W`` the body weight and ``q`` the product's ``ibmir_factor`` (its cell source's
profile, ``mscsim sources``). No fraction lost was found in the evidence: both
parameters are modelling guesses. Local routes have no IBMIR; autologous cells
have it too (it is innate, not donor-specific). The engine removes the lost cells
from each administration before the model's dose split
(:func:`mscsim.engine.integrate.delivered_doses`), so every model whose
parameters include ``ibmir_max_loss`` has the loss, per patient and per dose.
"""

from __future__ import annotations

import math

import numpy as np

from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array, Params
from mscsim.spec.route import Route

__all__ = [
    "CELL_FLOOR",
    "DSA_COVARIATE",
    "IMMUNE_COVARIATES",
    "IMMUNITY_MODEL",
    "INTRAVASCULAR_ROUTES",
    "MEMORY_FLOOR",
    "covariate",
    "formula_number",
    "ibmir_loss",
    "immune_rates",
    "immunity_parameters",
    "priming_gain",
    "sensitisation",
    "sensitisation_formula",
    "sensitised_share",
    "sensitised_switch",
    "sensitised_weight",
    "sensitised_weight_formula",
    "without_ibmir",
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
    "ibmir_factor": 1.0,
}
"""Optional per-patient covariates and their values when a parameter set lacks them:
fraction of matched HLA loci, fraction of the adaptive response suppressed, and the
cell source's immunogenicity, survival and IBMIR relative to the reference."""

DSA_COVARIATE = "forms_dsa"
"""Per-patient covariate: 1 if the patient forms donor-specific antibodies, else 0.
Populations draw it (:func:`mscsim.population.sample_patients`); without it the
probability ``dsa_probability`` stands in (:func:`sensitised_share`)."""

INTRAVASCULAR_ROUTES: frozenset[Route] = frozenset({Route.INTRAVENOUS, Route.INTRA_ARTERIAL})
"""Routes whose cells meet blood at once, and so the IBMIR (:func:`ibmir_loss`)."""


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


def sensitised_share(params: Params) -> Array:
    """Return the weight of memory-driven clearance: ``forms_dsa`` or ``dsa_probability``.

    A patient's ``forms_dsa`` (0 or 1) when the parameter set has it (a population);
    else the probability ``dsa_probability`` (R42), so that a single scenario's
    sensitised clearance is the expected one over allogeneic recipients.

    Examples
    --------
    >>> sensitised_share({"dsa_probability": np.array([0.115])})
    array([0.115])
    >>> sensitised_share({"dsa_probability": np.array([0.115]), "forms_dsa": np.array([1.0, 0.0])})
    array([1., 0.])
    """
    share: Array = params[DSA_COVARIATE] if DSA_COVARIATE in params else params["dsa_probability"]
    return share


def ibmir_loss(route: Route | str, cells: Array, params: Params) -> Array:
    """Return the fraction of an administration of ``cells`` viable cells lost to IBMIR.

    ``min(1, ibmir_max_loss * ibmir_factor * x / (x + ibmir_half_dose_cells_per_kg))``
    with ``x = cells / weight_kg``, for intravenous and intra-arterial doses
    (:data:`INTRAVASCULAR_ROUTES`); 0 for local routes and for parameter sets
    without ``ibmir_max_loss`` (models without IBMIR). Shape: ``cells`` broadcast
    with the parameters, ``(1,)`` or ``(P,)`` (``cells``' own shape when no loss).

    Raises
    ------
    SpecError
        If an intravascular dose meets a non-zero maximum loss and ``params`` has
        no ``weight_kg``.

    Examples
    --------
    >>> p = {"ibmir_max_loss": np.array([0.3]), "ibmir_half_dose_cells_per_kg": np.array([1e7]),
    ...      "weight_kg": np.array([70.0])}
    >>> ibmir_loss("intravenous", np.array([7e8]), p)
    array([0.15])
    >>> ibmir_loss("intramuscular", np.array([7e8]), p)
    array([0.])
    """
    amount = np.atleast_1d(np.asarray(cells, dtype=float))
    top = params.get("ibmir_max_loss")
    if Route(route) not in INTRAVASCULAR_ROUTES or top is None or not np.any(top > 0):
        return np.zeros(amount.shape)
    if "weight_kg" not in params:
        raise SpecError(
            "params.weight_kg = missing: the IBMIR loss of an intravascular dose "
            "needs the body weight (give weight_kg, or ibmir_max_loss = 0)"
        )
    per_kg = amount / params["weight_kg"]
    share = per_kg / (per_kg + params["ibmir_half_dose_cells_per_kg"])
    out: Array = np.minimum(top * covariate(params, "ibmir_factor") * share, 1.0)
    return out


def without_ibmir(params: Params) -> dict[str, Array]:
    """Return ``params`` with no IBMIR loss (for doses that already had it removed)."""
    out = dict(params)
    if "ibmir_max_loss" in out:
        out["ibmir_max_loss"] = np.zeros_like(out["ibmir_max_loss"])
    return out


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
    """Return ``(max(C - CELL_FLOOR, 0) / max(C, CELL_FLOOR))**4``: 0 at the floor, near 1 above.

    It fades the sensitised clearance out as the last viable cell goes, smoothly:
    its value and first three derivatives are 0 at the floor, so the fast
    engine's fourth-order steps keep their order as a patient's cells cross it
    (with the square, whose second derivative jumps there, a sensitised patient
    of the SCA population ended 1.1e-6 off a tight reference where the
    benchmark's ``bench/population.py`` now measures 2.3e-7). Above 100 cells
    it is within 4% of 1, so the clearance of any dose that matters is unchanged.

    Examples
    --------
    >>> sensitised_weight(np.array([0.0, 1.0, 2.0, 1e6]))
    array([0.      , 0.      , 0.0625  , 0.999996])
    """
    ratio = np.maximum(cells - CELL_FLOOR, 0.0) / np.maximum(cells, CELL_FLOOR)
    square = ratio * ratio
    out: Array = square * square
    return out


def sensitised_switch(memory: Array, cells: Array, params: Params) -> Array:
    """Return a function that is positive exactly where memory clears cells faster.

    That needs memory above :data:`MEMORY_FLOOR`, at least :data:`CELL_FLOOR` cells,
    a clearance multiplier above 1 and a patient who can be sensitised
    (:func:`sensitised_share` above 0); elsewhere the kinetics are linear.
    """
    active = np.minimum(memory - MEMORY_FLOOR, cells - CELL_FLOOR)
    acts = (params["sensitised_clearance_multiplier"] > 1.0) & (sensitised_share(params) > 0.0)
    out: Array = np.where(acts, active, -1.0)
    return out


def formula_number(x: float) -> str:
    """Write ``x`` so that an SBML Level 3 formula parser reads back the same double.

    Examples
    --------
    >>> formula_number(0.1), formula_number(-2.0), formula_number(float("inf"))
    ('0.1', '(-2.0)', 'inf')
    """
    text = repr(float(x))
    return f"({text})" if text.startswith("-") else text


def sensitisation_formula(memory: str) -> str:
    """Return :func:`sensitisation` of the quantity named ``memory`` as an SBML L3 formula.

    The same floor and ramp, written with ``piecewise`` (``max(M, 0)`` included).

    Examples
    --------
    >>> sensitisation_formula("M")  # doctest: +NORMALIZE_WHITESPACE
    'piecewise(piecewise(M / (1 + M), M > 0, 0),
     piecewise(M / (1 + M), M > 0, 0) >= 1.999998000002e-06,
     piecewise(2 * (piecewise(M / (1 + M), M > 0, 0) - 9.99999000001e-07),
     piecewise(M / (1 + M), M > 0, 0) > 9.99999000001e-07, 0))'
    """
    share = f"piecewise({memory} / (1 + {memory}), {memory} > 0, 0)"
    floor = MEMORY_FLOOR / (1.0 + MEMORY_FLOOR)
    low, high = formula_number(floor), formula_number(2.0 * floor)
    ramp = f"piecewise(2 * ({share} - {low}), {share} > {low}, 0)"
    return f"piecewise({share}, {share} >= {high}, {ramp})"


def sensitised_weight_formula(cells: str) -> str:
    """Return :func:`sensitised_weight` of the quantity named ``cells`` as an SBML L3 formula.

    Examples
    --------
    >>> sensitised_weight_formula("C")
    'piecewise((C - 1.0) / C * ((C - 1.0) / C) * ((C - 1.0) / C * ((C - 1.0) / C)), C > 1.0, 0)'
    """
    floor = formula_number(CELL_FLOOR)
    ratio = f"({cells} - {floor}) / {cells}"
    square = f"{ratio} * ({ratio})"
    return f"piecewise({square} * ({square}), {cells} > {floor}, 0)"
