"""Administrations after the horizon are left out with one warning, never refused."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from tests.conftest import build_scenario

from mscsim.errors import MscsimWarning
from mscsim.population import simulate_population, simulate_scenario
from mscsim.problem import prepare_scenario

IV = {"route": "intravenous", "cells": 5e7}


def _scenario(dose: list[dict[str, Any]], horizon: float, **more: Any) -> Any:
    return build_scenario(dose=dose, simulation={"horizon_days": horizon}, **more)


def _left_out_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if "not simulated" in str(w.message)]


def test_a_regimen_past_a_short_horizon_loads_and_keeps_what_falls_inside() -> None:
    scenario = _scenario([{**IV, "every_days": 90, "count": 4}], horizon=100)
    assert [e.time_day for e in scenario.regimen.expand()] == [0.0, 90.0]
    assert scenario.regimen.n_left_out == 2
    assert scenario.regimen.total_cells(70) == 2 * 5e7


def test_doses_after_the_horizon_are_dropped_with_one_warning_saying_how_many() -> None:
    scenario = _scenario([{**IV, "every_days": 90, "count": 4}], horizon=100)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        inputs = prepare_scenario(scenario)
    assert _left_out_warnings(record) == [
        "2 of 4 doses fall after simulation.horizon_days = 100 and are not simulated"
    ]
    assert all(issubclass(w.category, MscsimWarning) for w in record)
    assert [d.time_day for d in inputs.doses] == [0.0, 90.0]


def test_the_simulation_equals_the_regimen_cut_to_the_horizon() -> None:
    long = _scenario([{**IV, "every_days": 30, "count": 5}], horizon=70)
    cut = _scenario([{**IV, "every_days": 30, "count": 3}], horizon=70)
    with pytest.warns(MscsimWarning, match="2 of 5 doses fall after"):
        a = simulate_scenario(long)
    b = simulate_scenario(cut)
    np.testing.assert_array_equal(a.states, b.states)


def test_a_dose_whose_first_day_is_past_the_horizon_gives_the_untreated_course() -> None:
    late = _scenario([{**IV, "day": 200}], horizon=28)
    untreated = _scenario([], horizon=28)
    with pytest.warns(
        MscsimWarning, match=r"^1 of 1 dose falls after simulation\.horizon_days = 28"
    ):
        a = simulate_scenario(late)
    np.testing.assert_array_equal(a.states, simulate_scenario(untreated).states)
    assert late.regimen.routes == ()


def test_a_later_line_dropped_keeps_the_dose_lines_numbered_as_written() -> None:
    scenario = _scenario([{**IV, "day": 50}, {**IV, "day": 1}], horizon=28)
    assert [e.line for e in scenario.regimen.expand()] == [1]


def test_rounding_of_day_plus_intervals_does_not_drop_the_dose_on_the_horizon() -> None:
    # 30 * 0.1 is 3.0000000000000004 in floating point.
    scenario = _scenario([{**IV, "every_days": 0.1, "count": 31}], horizon=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MscsimWarning)
        inputs = prepare_scenario(scenario)
    assert len(inputs.doses) == 31


def test_a_population_with_doses_after_the_horizon_is_sampled() -> None:
    scenario = _scenario(
        [{"route": "intravenous", "cells_per_kg": 1e6, "every_days": 10, "count": 3}],
        horizon=15,
        population={"seed": 2},
    )
    with pytest.warns(MscsimWarning, match="1 of 3 doses falls after"):
        chunks = list(simulate_population(scenario, n_patients=3))
    assert chunks[0].result.n_patients == 3
