"""A disease defined in this module registers without editing any other file."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

import numpy as np
import pytest
from pydantic import Field
from tests.conftest import BASE

import mscsim.models.diseases.registry as registry
import mscsim.spec.disease as disease_spec
from mscsim.engine.events import ResolvedDose, build_schedule
from mscsim.engine.fast import integrate_fast
from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter
from mscsim.io.scenario import parse_scenario
from mscsim.models import TherapyModel, disease_from_spec, register_disease
from mscsim.models.base import Array, Params, n_param_rows
from mscsim.models.catalog import model_catalog
from mscsim.models.diseases import Outcome
from mscsim.spec.disease import DiseaseSpecBase
from mscsim.spec.route import Route

DECAY = Parameter(
    name="scar_decay_per_day",
    model="disease_scar",
    unit="1/day",
    description="Untreated first-order fading of a scar area",
    value=0.01,
    plausible=(0.001, 0.1),
    allowed=(0.0, math.inf),
    min_exclusive=False,
    evidence="G",
    source="Test disease.",
)


class ScarSpec(DiseaseSpecBase):
    """A scar area that fades; the effect doubles the rate."""

    model: Literal["scar"]
    baseline_area: float = Field(default=2.0, gt=0)


class Scar:
    """A scar area (cm2) fading at ``k (1 + e)``."""

    name = "disease_scar"
    key = "scar"
    states: tuple[str, ...] = ("scar",)
    parameters: tuple[Parameter, ...] = (DECAY,)
    output_names: tuple[str, ...] = ("scar_area",)
    outcome: Outcome | None = Outcome("scar_area", "cm2", True, "Scar area")

    def __init__(self, baseline_area: float = 2.0) -> None:
        self.baseline_area = baseline_area

    def initial_state(self, params: Params) -> Array:
        return np.array([[self.baseline_area]])

    def course(self, params: Params) -> tuple[Array, Array]:
        size = n_param_rows(params)
        k = params["scar_decay_per_day"]
        natural, full = np.zeros((size, 1, 2)), np.zeros((size, 1, 2))
        natural[:, 0, 0] = -k
        full[:, 0, 0] = -k
        return natural, full

    def outputs(self, x: Array, params: Params) -> dict[str, Array]:
        return {"scar_area": x[0]}


@pytest.fixture
def scar_registered() -> Iterator[None]:
    """Register the scar disease for one test, then restore both registries."""
    register_disease(Scar, ScarSpec, lambda spec: Scar(spec.baseline_area))
    yield
    del registry._ENTRIES["scar"], registry._DISEASES["scar"], disease_spec._SPECS["scar"]
    disease_spec._adapter.cache_clear()


@pytest.mark.usefixtures("scar_registered")
def test_a_disease_registered_in_a_test_is_accepted_simulated_and_listed() -> None:
    scenario = parse_scenario({**BASE, "disease": {"model": "scar", "baseline_area": 3.0}})
    model = TherapyModel(disease_from_spec(scenario.disease))
    assert model.states[-1] == "scar" and model.outcome is not None
    params = {p.name: np.array([p.value]) for p in model.parameters}
    params.update(is_allogeneic=np.array([0.0]), potency=np.array([1.0]))
    times = np.arange(0.0, 29.0)
    schedule = build_schedule([ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([0.0]))], times)
    y0 = model.initial_state(params)
    states, _, _ = integrate_fast(model, params, schedule, y0)
    scar = model.outputs(states, {k: v[:, None] for k, v in params.items()})["scar_area"][0]
    # No cells, no effect: the untreated course fades exactly as 3 exp(-k t).
    np.testing.assert_allclose(scar, 3.0 * np.exp(-DECAY.value * times), rtol=1e-10)
    listed = {entry["scenario"]: entry for entry in model_catalog()}
    assert listed['[disease] model = "scar"']["outputs"][-1] == "scar_area"


@pytest.mark.usefixtures("scar_registered")
def test_a_registered_disease_checks_its_own_table() -> None:
    with pytest.raises(SpecError, match=r"^disease\.baseline_area = -1: "):
        parse_scenario({**BASE, "disease": {"model": "scar", "baseline_area": -1}})


def test_an_unregistered_disease_is_refused_with_the_registered_keys() -> None:
    with pytest.raises(SpecError, match=r"^disease\.model = 'scar': must be one of 'none', 'sca'"):
        parse_scenario({**BASE, "disease": {"model": "scar"}})


@pytest.mark.usefixtures("scar_registered")
def test_a_key_cannot_be_registered_twice_by_another_disease() -> None:
    class Other(ScarSpec):
        pass

    with pytest.raises(SpecError, match="already registered"):
        register_disease(Scar, Other)
    with pytest.raises(SpecError, match="already registered"):
        register_disease(TherapyModel, ScarSpec)  # type: ignore[arg-type]
