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
from mscsim.models.base import Array, ModelBase, Params
from mscsim.models.diseases import Outcome
from mscsim.spec.route import Route

__all__ = ["ReferenceDrug"]

_LN2 = math.log(2.0)


class ReferenceDrug(ModelBase):
    """Drug with tolerance and rebound (feedback moderator model, R97); see module docstring.

    The affine part holds the drug's and the response's first-order losses and the
    moderator's tracking; the remainder is the response's production, divided by
    the moderator.
    """

    name = "reference_drug"
    states: tuple[str, ...] = ("drug", "response", "moderator")
    nonnegative: tuple[str, ...] = ("drug",)
    output_names: tuple[str, ...] = ("drug_amount", "response", "effect")
    outcome: Outcome | None = Outcome(
        "response", "x untreated response", False, "Response under the reference drug"
    )

    remainder_reads: tuple[str, ...] = ("drug", "moderator")
    remainder_writes: tuple[str, ...] = ("response",)

    def __init__(self) -> None:
        self.parameters: tuple[Parameter, ...] = load_library().for_model(self.name)

    def prepare(self, params: Params) -> Params:
        """Add the response's turnover rate ``response_turnover_per_day``."""
        return {**params, "response_turnover_per_day": _LN2 / params["response_half_life_days"]}

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        """Return the linear losses and the moderator's tracking, ``(P, 3, 3)``, and ``b = 0``."""
        ke = _LN2 / params["drug_half_life_days"]
        kout = _LN2 / params["response_half_life_days"]
        ktol = _LN2 / params["tolerance_half_life_days"]
        size = np.broadcast(ke, kout, ktol).shape[0]
        i = self.index
        drug, response, moderator = i["drug"], i["response"], i["moderator"]
        a = np.zeros((size, 3, 3))
        a[:, drug, drug] = -ke
        a[:, response, response] = -kout
        a[:, moderator, response] = ktol
        a[:, moderator, moderator] = -ktol
        return a, np.zeros((size, 3))

    def stimulation(self, drug: Array, params: Params) -> Array:
        """Return the production multiplier ``1 + Emax C^n / (EC50^n + C^n)``."""
        x = (np.maximum(drug, 0.0) / params["drug_ec50"]) ** params["drug_hill"]
        out: Array = 1.0 + params["drug_emax"] * x / (1.0 + x)
        return out

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        """Return the response's production, divided by the moderator; shape ``(3, n)``."""
        i = self.index
        out = np.zeros_like(y)
        stimulated = self.stimulation(y[i["drug"]], params)
        out[i["response"]] = params["response_turnover_per_day"] * stimulated / y[i["moderator"]]
        return out

    def dose_split(self, route: Route, params: Params) -> Array:
        """Return ``[1, 0, 0]``: a dose adds one unit of drug by any route."""
        split = np.zeros((3, 1))
        split[self.index["drug"]] = 1.0
        return split

    def initial_state(self, params: Params) -> Array:
        """Return the untreated steady state: no drug, response and moderator 1."""
        out = np.ones((3, 1))
        out[self.index["drug"]] = 0.0
        return out

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        """Return drug amount, response and effect (response - 1)."""
        i = self.index
        response = y[i["response"]]
        return {"drug_amount": y[i["drug"]], "response": response, "effect": response - 1.0}
