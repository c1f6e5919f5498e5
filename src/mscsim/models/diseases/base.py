r"""What a disease course provides, and the helpers the built-in diseases share.

A disease has states ``x`` (shape ``(n_x, n)``) whose course is affine in ``x``
with coefficients that are affine in the effect ``e`` (0-1):

.. math::

    \dot x = (N + e\,M)\,\begin{bmatrix} x \\ 1 \end{bmatrix}

``N`` (the natural course) and ``M`` (what a full effect adds) have shape
``(P, n_x, n_x + 1)``; their last column holds constant rates. With ``e = 0`` the
untreated course is exactly linear and is integrated exactly.
:class:`~mscsim.models.TherapyModel` puts ``N`` in its affine part and
``e M [x; 1]`` in its remainder.

Every built-in disease has a one-directional effect: the effect only ever moves
the course towards better outcomes, and no state counter-regulates it. That is an
assumption of these models (the evidence shows no rebound after MSCs, R13), not
something the analysis assumes: :func:`mscsim.analysis.withdrawal` measures
rebound on whatever model it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array, Params

__all__ = ["BASELINE_COVARIATE", "Disease", "Outcome", "baseline", "library_parameters"]

BASELINE_COVARIATE = "disease_baseline"
"""Optional per-patient covariate: the disease's baseline outcome, overriding the
one the disease was built with (virtual populations sample it)."""


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


def library_parameters(model: str) -> tuple[Parameter, ...]:
    """Return the library's parameters of disease ``model``."""
    return load_library().for_model(model)


def baseline(params: Params, default: float) -> Array:
    """Return the per-patient baseline, shape ``(P,)``: the covariate, else ``default``."""
    if BASELINE_COVARIATE in params:
        return np.asarray(params[BASELINE_COVARIATE], dtype=float)
    return np.array([default])
