"""A complete scenario: patient, product, regimen, simulation settings, overrides."""

from __future__ import annotations

import math
from typing import Self

from pydantic import Field, model_validator

from mscsim.spec.base import Items, SpecModel
from mscsim.spec.disease import DiseaseSpec, NoDiseaseSpec
from mscsim.spec.dose import Dose
from mscsim.spec.model import Kinetics, LabelSpec, ModelSettings, Species
from mscsim.spec.patient import Patient
from mscsim.spec.population import PopulationSpec
from mscsim.spec.product import Product
from mscsim.spec.regimen import Regimen

__all__ = ["Scenario", "SimulationSettings"]

_MAX_OUTPUT_POINTS = 2_000_000


class SimulationSettings(SpecModel):
    """How long to simulate, how often to report, and for how many patients.

    Parameters
    ----------
    horizon_days : float
        Simulated time span from day 0, > 0.
    output_every_days : float
        Reporting interval, > 0 (may be fractional). Default 1.
    n_patients : int
        Number of simulated patients, >= 1. Default 1.
    """

    horizon_days: float = Field(gt=0, le=36_500, allow_inf_nan=False)
    output_every_days: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    n_patients: int = Field(default=1, ge=1, le=10_000_000)

    @model_validator(mode="after")
    def _check_grid(self) -> Self:
        if self.output_every_days > self.horizon_days:
            raise ValueError(
                f"output_every_days = {self.output_every_days}: larger than horizon_days = "
                f"{self.horizon_days}; must be <= the horizon"
            )
        if self.horizon_days / self.output_every_days > _MAX_OUTPUT_POINTS:
            raise ValueError(
                f"output_every_days = {self.output_every_days}: gives more than "
                f"{_MAX_OUTPUT_POINTS} output times over {self.horizon_days} days; "
                "use a coarser grid"
            )
        return self

    @property
    def n_times(self) -> int:
        """Number of output times, day 0 and the horizon included."""
        return math.floor(self.horizon_days / self.output_every_days + 1e-9) + 1


class Scenario(SpecModel):
    """Everything needed to simulate one treatment scenario.

    ``dose`` holds the ``[[dose]]`` tables; an empty list means the untreated
    course, and administrations after ``simulation.horizon_days`` are left out
    of :attr:`regimen` (and so of every simulation). ``disease`` chooses the
    disease course (default: none). ``parameters`` overrides model parameters by
    name. ``population`` makes the ``n_patients`` simulated patients differ
    (:class:`PopulationSpec`). ``model`` chooses the cell kinetics (default the
    reduced compartments; ``kinetics = "organs"`` for the organ-level model,
    which other species and a ``label`` need).
    """

    patient: Patient
    product: Product
    dose: Items[Dose] = ()
    disease: DiseaseSpec = Field(default_factory=NoDiseaseSpec)
    simulation: SimulationSettings
    parameters: dict[str, float] = Field(default_factory=dict)
    population: PopulationSpec | None = None
    model: ModelSettings = Field(default_factory=ModelSettings)
    label: LabelSpec | None = None

    @model_validator(mode="after")
    def _check_donor_age(self) -> Self:
        donor_age, age = self.product.donor_age_years, self.patient.age_years
        if (
            not self.product.is_allogeneic
            and donor_age is not None
            and age is not None
            and donor_age != age
        ):
            raise ValueError(
                f"product.donor_age_years = {donor_age:g}: autologous cells come from the "
                f"patient, aged {age:g}; leave it out"
            )
        return self

    @model_validator(mode="after")
    def _check_kinetics(self) -> Self:
        if self.model.kinetics is Kinetics.ORGANS:
            return self
        if self.label is not None:
            raise ValueError(
                f"label.kind = {self.label.kind.value!r}: a label needs [model] kinetics = 'organs'"
            )
        if self.patient.species is not Species.HUMAN:
            raise ValueError(
                f"patient.species = {self.patient.species.value!r}: needs "
                "[model] kinetics = 'organs' (the reduced kinetics are for humans)"
            )
        return self

    @model_validator(mode="after")
    def _check_population(self) -> Self:
        pop = self.population
        if pop is None:
            return self
        if pop.genotype_mix is not None and self.disease.model != "sca":
            model = self.disease.model
            raise ValueError(
                f"population.genotype_mix: needs [disease] model = 'sca', not {model!r}"
            )
        if pop.baseline is not None and self.disease.model == "none":
            raise ValueError("population.baseline: needs a [disease] with a baseline")
        return self

    @property
    def regimen(self) -> Regimen:
        """The dose lines as a :class:`Regimen` that stops at ``simulation.horizon_days``."""
        return Regimen(doses=self.dose, until_day=self.simulation.horizon_days)
