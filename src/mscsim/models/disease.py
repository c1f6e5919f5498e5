r"""Disease courses and how the paracrine effect bends them.

A disease has states ``x`` (shape ``(n_x, n)``) whose course is affine in ``x``
with coefficients that are affine in the effect ``e`` (0-1):

.. math::

    \dot x = (N + e\,M)\,\begin{bmatrix} x \\ 1 \end{bmatrix}

``N`` (the natural course) and ``M`` (what a full effect adds) have shape
``(P, n_x, n_x + 1)``; their last column holds constant rates. With ``e = 0`` the
untreated course is exactly linear and is integrated exactly. User diseases
implement :class:`Disease` and are passed to :class:`~mscsim.models.TherapyModel`.

Every built-in disease has a one-directional effect: the effect only ever moves
the course towards better outcomes, and no state counter-regulates it. That is an
assumption of these models (the evidence shows no rebound after MSCs, R13), not
something the analysis assumes: :func:`mscsim.analysis.withdrawal` measures
rebound on whatever model it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array, Params, n_param_rows
from mscsim.spec.disease import (
    DiseaseSpec,
    Genotype,
    InflammationSpec,
    LimbIschemiaSpec,
    NoDiseaseSpec,
    ScaSpec,
)

__all__ = [
    "BASELINE_COVARIATE",
    "DISEASES",
    "Disease",
    "Inflammation",
    "LimbIschemia",
    "NoDisease",
    "Outcome",
    "SpinocerebellarAtaxia",
    "disease_from_spec",
]

_LN2 = math.log(2.0)
_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class Outcome:
    """The clinical outcome a model reports.

    Attributes
    ----------
    name : str
        Output column.
    unit : str
    higher_is_worse : bool
        Direction: True for scores of severity (SARA), False for function (perfusion).
    description : str
    """

    name: str
    unit: str
    higher_is_worse: bool
    description: str

    @property
    def direction(self) -> str:
        """``"higher is worse"`` or ``"higher is better"``."""
        return "higher is worse" if self.higher_is_worse else "higher is better"


@runtime_checkable
class Disease(Protocol):
    """What a disease course provides to :class:`~mscsim.models.TherapyModel`.

    Attributes
    ----------
    name : str
        Model name its parameters carry in the library.
    key : str
        Short name used in scenarios (``[disease] model = key``).
    states, parameters, output_names
        As in :class:`~mscsim.models.Model`.
    outcome : Outcome or None
        The outcome column; ``None`` for no disease.
    """

    name: str
    key: str
    states: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    output_names: tuple[str, ...]
    outcome: Outcome | None

    def initial_state(self, params: Params) -> Array:
        """Return the states at day 0, shape ``(n_x, P)``."""
        ...

    def course(self, params: Params) -> tuple[Array, Array]:
        """Return ``(N, M)``, each of shape ``(P, n_x, n_x + 1)`` (module docstring)."""
        ...

    def outputs(self, x: Array, params: Params) -> dict[str, Array]:
        """Return named outputs of states ``x`` shaped ``(n_x, n, n_times)``."""
        ...


def _params(model: str) -> tuple[Parameter, ...]:
    return load_library().for_model(model)


BASELINE_COVARIATE = "disease_baseline"
"""Optional per-patient covariate: the disease's baseline outcome, overriding the
one the disease was built with (virtual populations sample it)."""


def _baseline(params: Params, default: float) -> Array:
    """Return the per-patient baseline, shape ``(P,)``."""
    if BASELINE_COVARIATE in params:
        return np.asarray(params[BASELINE_COVARIATE], dtype=float)
    return np.array([default])


class NoDisease:
    """No disease: kinetics and paracrine effect only."""

    name = "disease_none"
    key = "none"
    states: tuple[str, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    output_names: tuple[str, ...] = ()
    outcome: Outcome | None = None

    def initial_state(self, params: Params) -> Array:
        """Return no states, shape ``(0, 1)``."""
        return np.zeros((0, 1))

    def course(self, params: Params) -> tuple[Array, Array]:
        """Return empty matrices, shape ``(1, 0, 1)``."""
        return np.zeros((1, 0, 1)), np.zeros((1, 0, 1))

    def outputs(self, x: Array, params: Params) -> dict[str, Array]:
        """Return no outputs."""
        return {}


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
            for p in _params(self.name)
            if not p.name.startswith("sara_progression_") or p.name == self.slope_name
        )

    def initial_state(self, params: Params) -> Array:
        """Return ``D = baseline_score`` (or the ``disease_baseline`` covariate) and ``U = 0``."""
        d = _baseline(params, self.baseline_score)
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
        self.parameters: tuple[Parameter, ...] = _params(self.name)

    def initial_state(self, params: Params) -> Array:
        """Return the baseline perfusion ratio (or the ``disease_baseline`` covariate)."""
        return _baseline(params, self.baseline_perfusion_ratio)[None, :]

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
        self.parameters: tuple[Parameter, ...] = _params(self.name)

    def initial_state(self, params: Params) -> Array:
        """Return the baseline index (or the ``disease_baseline`` covariate)."""
        return _baseline(params, self.baseline_index)[None, :]

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


DISEASES: dict[str, type] = {
    "none": NoDisease,
    "sca": SpinocerebellarAtaxia,
    "limb_ischemia": LimbIschemia,
    "inflammation": Inflammation,
}
"""Built-in diseases by their scenario key."""


def disease_from_spec(spec: DiseaseSpec) -> Disease:
    """Return the disease a ``[disease]`` table describes."""
    if isinstance(spec, ScaSpec):
        return SpinocerebellarAtaxia(spec.genotype, spec.baseline_score)
    if isinstance(spec, LimbIschemiaSpec):
        return LimbIschemia(spec.baseline_perfusion_ratio)
    if isinstance(spec, InflammationSpec):
        return Inflammation(spec.baseline_index)
    assert isinstance(spec, NoDiseaseSpec)  # noqa: S101 - the union is exhausted
    return NoDisease()
