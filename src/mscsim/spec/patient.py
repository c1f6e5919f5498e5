"""The patient (or animal) a scenario is simulated for."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from mscsim.spec.base import Choice, SpecModel
from mscsim.spec.model import Species

__all__ = ["REFERENCE_WEIGHT_KG", "WEIGHT_RANGE_KG", "Patient"]

REFERENCE_WEIGHT_KG: dict[Species, float] = {
    Species.MOUSE: 0.025,
    Species.RAT: 0.25,
    Species.HUMAN: 70.0,
}
"""Reference body weights (EPA reference values, Arms & Travis 1988)."""

WEIGHT_RANGE_KG: dict[Species, tuple[float, float]] = {
    Species.MOUSE: (0.005, 0.1),
    Species.RAT: (0.05, 1.0),
    Species.HUMAN: (0.3, 400.0),
}
"""Body weights accepted per species: a very preterm newborn to 400 kg for humans."""


class Patient(SpecModel):
    """Patient covariates.

    Parameters
    ----------
    species : Species
        ``"human"`` (default), ``"mouse"`` or ``"rat"``; other species need the
        organ kinetics (``[model] kinetics = "organs"``).
    weight_kg : float
        Body weight in kg, within :data:`WEIGHT_RANGE_KG` of the species (humans
        0.3 to 400). Default: the species' reference weight (human 70 kg,
        rat 0.25 kg, mouse 0.025 kg).
    age_years : float, optional
        Age in years (0 to 120).
    immunosuppression : float
        Fraction by which the patient's adaptive immune response is suppressed,
        0-1 (default 0): it scales priming against allogeneic cells down.
    forms_dsa : bool, optional
        Whether this patient forms donor-specific antibodies against allogeneic
        cells (true: memory clears later doses faster; false: it never does).
        Default unknown: a single scenario weights the memory-driven clearance
        by ``dsa_probability`` (11.5% of allogeneic recipients, R42) and a
        population draws each patient's status with that probability.
    """

    species: Choice[Species] = Species.HUMAN
    weight_kg: float = Field(default=70.0, ge=0.005, le=400, allow_inf_nan=False)
    age_years: float | None = Field(default=None, ge=0, le=120, allow_inf_nan=False)
    immunosuppression: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)
    forms_dsa: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _reference_weight(cls, data: Any) -> Any:
        if isinstance(data, dict) and "weight_kg" not in data:
            try:
                species = Species(data.get("species", Species.HUMAN))
            except ValueError:
                return data  # the field validator names the bad species
            return {**data, "weight_kg": REFERENCE_WEIGHT_KG[species]}
        return data

    @model_validator(mode="after")
    def _check_weight(self) -> Self:
        low, high = WEIGHT_RANGE_KG[self.species]
        if not low <= self.weight_kg <= high:
            raise ValueError(
                f"weight_kg = {self.weight_kg:g}: a {self.species.value} weighs "
                f"{low:g} to {high:g} kg"
            )
        return self
