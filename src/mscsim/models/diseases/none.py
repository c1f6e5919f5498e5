"""No disease: kinetics and paracrine effect only."""

from __future__ import annotations

import numpy as np

from mscsim.evidence.library import Parameter
from mscsim.models.base import Array, Params
from mscsim.models.diseases.base import Outcome
from mscsim.models.diseases.registry import register_disease
from mscsim.spec.disease import NoDiseaseSpec

__all__ = ["NoDisease"]


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


register_disease(NoDisease, NoDiseaseSpec)
