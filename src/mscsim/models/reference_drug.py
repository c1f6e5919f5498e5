r"""A reference drug that does form tolerance and withdrawal rebound, for contrast.

The feedback (moderator) model of Gabrielsson & Peletier (2008, AAPS J 10:70-83;
evidence R97), as written out in the evidence dossier (section 12):

.. math::

    \dot C = -k_e C, \qquad
    \dot R = k_{in}\,\frac{1 + E_{max} C^n / (EC_{50}^n + C^n)}{M} - k_{out} R, \qquad
    \dot M = k_{tol}\,(R - M)

with :math:`k_{in} = k_{out}`, so the untreated response and moderator are 1. With
the drug on board the moderator ``M`` slowly rises (tolerance); when the drug
stops, production drops while ``M`` is still high and ``R`` falls below 1
(withdrawal rebound) until ``M`` relaxes, over about :math:`1/k_{tol}`.

Its numbers are illustrative (only the form and parameter names are sourced). A
dose adds one unit of drug, whatever its route. Outputs: ``drug_amount``,
``response`` (the outcome, 1 = untreated, higher is better) and ``effect``
(``response - 1``).
"""

from __future__ import annotations

import math

import numpy as np

from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array, Params
from mscsim.models.disease import Outcome
from mscsim.spec.route import Route

__all__ = ["ReferenceDrug"]

_LN2 = math.log(2.0)


class ReferenceDrug:
    """Drug with tolerance and rebound (feedback moderator model, R97); see module docstring."""

    name = "reference_drug"
    states: tuple[str, ...] = ("drug", "response", "moderator")
    nonnegative: tuple[str, ...] = ("drug",)
    output_names: tuple[str, ...] = ("drug_amount", "response", "effect")
    outcome: Outcome | None = Outcome(
        "response", "x untreated response", False, "Response under the reference drug"
    )

    def __init__(self) -> None:
        self.parameters: tuple[Parameter, ...] = load_library().for_model(self.name)

    @staticmethod
    def _rates(p: Params) -> tuple[Array, Array, Array]:
        return (
            _LN2 / p["drug_half_life_days"],
            _LN2 / p["response_half_life_days"],
            _LN2 / p["tolerance_half_life_days"],
        )

    def linear_part(self, params: Params) -> Array:
        """Return the linear losses and the moderator's tracking, shape ``(P, 3, 3)``."""
        ke, kout, ktol = self._rates(params)
        size = np.broadcast(ke, kout, ktol).shape[0]
        a = np.zeros((size, 3, 3))
        a[:, 0, 0] = -ke
        a[:, 1, 1] = -kout
        a[:, 2, 1] = ktol
        a[:, 2, 2] = -ktol
        return a

    def is_linear(self, params: Params) -> bool:
        """Never: production is divided by the moderator."""
        return False

    def stimulation(self, drug: Array, params: Params) -> Array:
        """Return the production multiplier ``1 + Emax C^n / (EC50^n + C^n)``."""
        x = (np.maximum(drug, 0.0) / params["drug_ec50"]) ** params["drug_hill"]
        out: Array = 1.0 + params["drug_emax"] * x / (1.0 + x)
        return out

    def rhs(self, t_day: float, y: Array, params: Params) -> Array:
        """Return dy/dt, shape ``(3, n)``."""
        ke, kout, ktol = self._rates(params)
        drug, response, moderator = y
        production = kout * self.stimulation(drug, params) / moderator
        return np.stack([-ke * drug, production - kout * response, ktol * (response - moderator)])

    def dose_split(self, route: Route, params: Params) -> Array:
        """Return ``[1, 0, 0]``: a dose adds one unit of drug by any route."""
        return np.array([[1.0], [0.0], [0.0]])

    def initial_state(self, params: Params) -> Array:
        """Return the untreated steady state: no drug, response and moderator 1."""
        return np.array([[0.0], [1.0], [1.0]])

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        """Return drug amount, response and effect (response - 1)."""
        return {"drug_amount": y[0], "response": y[1], "effect": y[1] - 1.0}
