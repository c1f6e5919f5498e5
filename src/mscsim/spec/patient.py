"""The patient a scenario is simulated for."""

from __future__ import annotations

from pydantic import Field

from mscsim.spec.base import SpecModel

__all__ = ["Patient"]


class Patient(SpecModel):
    """Patient covariates.

    Parameters
    ----------
    weight_kg : float
        Body weight in kg, 0.3 (a very preterm newborn) to 400.
    age_years : float, optional
        Age in years (0 to 120).
    immunosuppression : float
        Fraction by which the patient's adaptive immune response is suppressed,
        0-1 (default 0): it scales priming against allogeneic cells down.
    """

    weight_kg: float = Field(ge=0.3, le=400, allow_inf_nan=False)
    age_years: float | None = Field(default=None, ge=0, le=120, allow_inf_nan=False)
    immunosuppression: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)
