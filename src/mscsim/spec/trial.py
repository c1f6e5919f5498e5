"""A virtual clinical trial: arms, endpoint, measurement, placebo, dropout, safety."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, Strict, model_validator

from mscsim.spec.base import Items, Name, SpecModel
from mscsim.spec.scenario import Scenario

__all__ = [
    "Arm",
    "Endpoint",
    "Measurement",
    "PlaceboResponse",
    "Safety",
    "TrialSettings",
    "TrialSpec",
]


class TrialSettings(SpecModel):
    """``[trial]``: replicates, seed, significance level, analysis, dropout, visits.

    ``max_step_day`` is the fast engine's largest step while a nonlinear part is
    active (default 0.5 d: on the SCA example the SARA endpoint stays within 2e-6
    points of a tight reference solve, far below any rating error, and runs about
    5 times faster than the engine's default 1.5-h step).
    """

    replicates: int = Field(default=500, ge=1, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    analysis: Literal["ancova", "welch"] = "ancova"
    dropout: float = Field(default=0.0, ge=0, lt=1, allow_inf_nan=False)
    visit_days: Items[Annotated[float, Field(ge=0, le=36_500, allow_inf_nan=False)]] = ()
    max_step_day: float = Field(default=0.5, gt=0, le=5)


class Endpoint(SpecModel):
    """``[endpoint]``: change from baseline in ``output`` at ``day``."""

    output: Name
    day: float = Field(gt=0, allow_inf_nan=False)


class Measurement(SpecModel):
    """``[measurement]``: rating error, ``observed = true * (1 + cv * z1) + sd * z2``."""

    additive_sd: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    proportional_cv: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)


class PlaceboResponse(SpecModel):
    """``[placebo]``: change added to every patient's endpoint (blinded trial), mean and SD."""

    mean: float = Field(default=0.0, allow_inf_nan=False)
    sd: float = Field(default=0.0, ge=0, allow_inf_nan=False)


class Safety(SpecModel):
    """``[safety]``: per-infusion probabilities of events in treated patients.

    Defaults: transient fever 0.15 per infusion (a guess: 21 of 34 IT/IV patients
    had fever in R8, over an unknown number of infusions) and serious adverse event
    0.002 per infusion (a guess: no SAE attributable to MSCs in 62 RCTs, R88; two in
    70 IV studies, R90). Placebo infusions carry the fever rate divided by
    ``fever_relative_risk`` (2.48, R87) and the same SAE rate.
    """

    fever_per_infusion: float = Field(default=0.15, ge=0, le=1)
    sae_per_infusion: float = Field(default=0.002, ge=0, le=1)
    fever_relative_risk: float = Field(default=2.48, ge=1)


class Arm(SpecModel):
    """``[[arm]]``: a name, its size, and the scenario it follows (or mirrors, for placebo)."""

    name: Name
    n: int = Field(ge=2, le=100_000)
    scenario: Scenario
    placebo: bool = False


class TrialSpec(SpecModel):
    """A two-arm trial: the first arm is compared with the second (the control).

    The control is the ``placebo`` arm when there is one.
    """

    trial: TrialSettings = Field(default_factory=TrialSettings)
    endpoint: Endpoint
    measurement: Measurement = Field(default_factory=Measurement)
    placebo: PlaceboResponse = Field(default_factory=PlaceboResponse)
    safety: Safety = Field(default_factory=Safety)
    arm: Annotated[tuple[Arm, Arm], Strict(False)]

    @model_validator(mode="after")
    def _check(self) -> Self:
        names = [a.name for a in self.arm]
        if len(set(names)) != len(names):
            raise ValueError(f"arm: names must differ, got {names}")
        for i, a in enumerate(self.arm):
            horizon = a.scenario.simulation.horizon_days
            if self.endpoint.day > horizon:
                raise ValueError(
                    f"endpoint.day = {self.endpoint.day:g}: after arm[{i}]'s horizon "
                    f"({horizon:g} days)"
                )
        return self

    @property
    def treated(self) -> Arm:
        """The arm compared with the control."""
        return self.arm[1] if self.arm[0].placebo and not self.arm[1].placebo else self.arm[0]

    @property
    def control(self) -> Arm:
        """The control arm."""
        return self.arm[0] if self.treated is self.arm[1] else self.arm[1]
