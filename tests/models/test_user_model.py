"""A user model plugs into the same engine as the built-in ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from examples.user_model import LocalDepot, bateman

from mscsim import Model, ResolvedDose, Route, SpecError, simulate


def test_the_example_user_model_satisfies_the_model_protocol() -> None:
    assert isinstance(LocalDepot(), Model)


@pytest.mark.parametrize("engine", ["fast", "scipy"])
def test_user_model_matches_its_bateman_closed_form(engine: str) -> None:
    model = LocalDepot()
    params = {p.name: p.value for p in model.parameters}
    times = np.linspace(0, 14, 57)
    result = simulate(
        model,
        [ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([5e7]))],
        times_day=times,
        params=params,
        engine=engine,
    )
    kg = math.log(2) / params["engrafted_half_life_days"]
    ref = bateman(times, 5e7, params["depot_death_per_day"], params["engraftment_per_day"], kg)
    rtol = 1e-12 if engine == "fast" else 1e-5
    np.testing.assert_allclose(result.output("cells_engrafted")[0], ref, rtol=rtol, atol=1e-3)


def test_user_model_refuses_a_route_it_does_not_model() -> None:
    model = LocalDepot()
    params = {p.name: p.value for p in model.parameters}
    with pytest.raises(SpecError, match="local routes only"):
        simulate(
            model,
            [ResolvedDose(0.0, Route.INTRAVENOUS, np.array([1e7]))],
            times_day=[0.0, 1.0],
            params=params,
        )
