"""Patients vary the model's own parameters: omegas, defaults and bounds, user models included."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from examples.user_model import DEPOT_PARAMETERS, LocalDepot

from mscsim.evidence import load_library
from mscsim.population import deviates, problem_from_population
from mscsim.problem import problem_from_scenario
from tests.conftest import build_scenario

N = 4_000


def depot_with(name: str, **changes: Any) -> LocalDepot:
    """Return a LocalDepot whose parameter ``name`` has ``changes`` (omega, allowed)."""
    model = LocalDepot()
    model.parameters = tuple(
        dataclasses.replace(p, **changes) if p.name == name else p for p in DEPOT_PARAMETERS
    )
    return model


def typical_value(name: str) -> float:
    return next(p.value for p in DEPOT_PARAMETERS if p.name == name)


def assert_log_sd(values: np.ndarray, median: float, omega: float) -> None:
    """The log-normal spread around ``median`` is ``omega``, within 4 standard errors."""
    assert values.shape == (N,)
    eta = np.log(values / median)
    assert abs(eta.std() - omega) < 4 * omega / np.sqrt(2 * values.size)
    assert abs(eta.mean()) < 4 * omega / np.sqrt(values.size)


def test_an_omega_on_a_user_models_own_parameter_is_applied() -> None:
    scenario = build_scenario(population={"seed": 7, "omega": {"engraftment_per_day": 0.3}})
    params = problem_from_population(scenario, N, model=LocalDepot()).params
    assert_log_sd(params["engraftment_per_day"], typical_value("engraftment_per_day"), 0.3)
    for fixed in ("depot_death_per_day", "engrafted_half_life_days"):
        assert np.unique(params[fixed]).size == 1


def test_a_user_models_default_omega_varies_its_parameter() -> None:
    model = depot_with("engrafted_half_life_days", omega=0.25)
    params = problem_from_population(build_scenario(population={"seed": 3}), N, model=model).params
    assert_log_sd(
        params["engrafted_half_life_days"], typical_value("engrafted_half_life_days"), 0.25
    )
    assert np.unique(params["engraftment_per_day"]).size == 1


def test_draws_are_kept_within_the_user_models_own_bounds() -> None:
    model = depot_with("engraftment_per_day", omega=0.5, allowed=(0.0, 0.8))
    params = problem_from_population(build_scenario(population={"seed": 5}), N, model=model).params
    rate = params["engraftment_per_day"]
    assert rate.max() == 0.8
    assert rate.min() < typical_value("engraftment_per_day")


def test_a_built_in_models_draws_follow_the_library() -> None:
    """Built-in models' parameters are the library's: its omegas and bounds, as before."""
    scenario = build_scenario(
        population={"seed": 19, "omega": {"homing_fraction": 0.2}, "lot_variability": False}
    )
    ids = np.arange(300, dtype=np.int64)
    drawn = problem_from_population(scenario, patient_ids=ids).params
    typical = problem_from_scenario(scenario, n_patients=1).params
    library = load_library()
    omegas = {k: library.get(k).omega for k in typical if k in library}
    omegas["homing_fraction"] = 0.2
    names = sorted(k for k, w in omegas.items() if w > 0)
    assert len(names) > 1
    eta = deviates(19, ids, 7 + len(names))[:, 7:]
    for j, name in enumerate(names):
        low, high = library.get(name).allowed
        value = np.broadcast_to(typical[name], ids.shape) * np.exp(omegas[name] * eta[:, j])
        np.testing.assert_array_equal(drawn[name], np.clip(value, low, high))
    for name in typical.keys() - {*names, "weight_kg"}:
        np.testing.assert_array_equal(drawn[name], typical[name])
