"""Exact peaks and last times at a level: closed forms and a tight reference solve."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from mscsim.analysis.doses import simulate_course
from mscsim.analysis.extrema import EXTREMA_COLUMNS, course_extrema, dense_times
from mscsim.engine import simulate
from mscsim.engine.events import ResolvedDose, Schedule
from mscsim.engine.integrate import EngineName, delivered_doses, initial_states
from mscsim.engine.solvers import Integration, ScipySolver, Solver, solver_named
from mscsim.errors import SpecError
from mscsim.io.scenario import load_scenario
from mscsim.models.base import Array, Model, Params, full_rhs
from mscsim.problem import Problem, ScenarioInputs, ev, prepare_scenario, solve
from mscsim.spec.route import Route
from tests.conftest import FIRST_ORDER, build_scenario

SCA = Path(__file__).resolve().parents[2] / "examples" / "sca_uc_msc_iv.toml"
RTOL = 1e-6
ENGINE_RTOL = {"fast": RTOL, "scipy": 1e-5}
"""Exact to 1e-6; the scipy engine (LSODA at its default rtol 1e-6) bounds its own."""


def _extrema(inputs: ScenarioInputs, engine: EngineName = "fast", **kwargs: Any) -> pd.DataFrame:
    solver = solver_named(engine)
    table = course_extrema(solve(inputs, solver), inputs, solver, **kwargs)
    return table.set_index("output")


@pytest.mark.parametrize("engine", ["fast", "scipy"])
def test_liver_peak_and_last_cell_of_an_intravenous_bolus_match_the_closed_form(
    engine: EngineName,
) -> None:
    # Lung release and target leak off, autologous cells: blood empties into the
    # liver/spleen at k_B, which loses cells at k_H (a Bateman function).
    scenario = build_scenario(
        dose=[{"route": "intravenous", "cells": 1e8, "day": 0.3}],
        simulation={"horizon_days": 60, "output_every_days": 1},
        parameters={"lung_release_fraction": 0.0, "local_leak_per_day": 0.0},
    )
    inputs = prepare_scenario(scenario)
    p = {k: float(v[0]) for k, v in inputs.params.items()}
    k_b = math.log(2) / p["blood_half_life_days"]
    k_h = math.log(2) / (p["liver_spleen_half_life_days"] * p["cell_survival"])
    f, h = p["lung_trap_fraction"], p["homing_fraction"]
    (given,) = delivered_doses(inputs.doses, inputs.params)  # less the IBMIR share
    scale = (1 - f) ** 2 * (1 - h) * k_b * float(given.viable_cells[0]) / (k_h - k_b)

    def liver(t: float) -> float:
        return scale * (math.exp(-k_b * t) - math.exp(-k_h * t))

    t_peak = math.log(k_b / k_h) / (k_b - k_h)
    t_last = brentq(lambda t: liver(t) - 1.0, t_peak, 60.0, xtol=1e-14)
    row = _extrema(inputs, engine, outputs=["cells_liver_spleen"]).loc["cells_liver_spleen"]
    rtol = ENGINE_RTOL[engine]
    assert math.isclose(row["peak_day"], 0.3 + t_peak, rel_tol=rtol)
    assert math.isclose(row["peak"], liver(t_peak), rel_tol=rtol)
    assert math.isclose(row["last_day_at_level"], 0.3 + t_last, rel_tol=rtol)


def test_last_cell_of_a_local_first_order_dose_matches_the_closed_form() -> None:
    scenario = build_scenario(
        simulation={"horizon_days": 200, "output_every_days": 1}, parameters=FIRST_ORDER
    )
    row = _extrema(prepare_scenario(scenario)).loc["cells_target"]
    # 5e7 * 2^(-t/4) >= 1  <=>  t <= 4 log2(5e7)
    assert row["peak"] == 5e7 and row["peak_day"] == 0
    assert math.isclose(row["last_day_at_level"], 4 * math.log2(5e7), rel_tol=RTOL)


def reference_lung_peak(inputs: ScenarioInputs) -> tuple[float, float]:
    """Lung peak after the first infusion: LSODA at rtol 1e-10, the peak as an event."""
    model, params = inputs.model, inputs.params
    dose = delivered_doses(inputs.doses, params)[0]  # less the IBMIR share
    assert dose.time_day == 0 and dose.duration_day > 0
    split = model.dose_split(dose.route, params)[:, 0]
    rate = split * float(dose.viable_cells[0]) / dose.duration_day
    lung = model.states.index("lung")
    rhs = full_rhs(model, params)

    def flow(t: float, y: np.ndarray, infusing: bool) -> np.ndarray:
        return rhs(t, y[:, None])[:, 0] + (rate if infusing else 0.0)

    def turns(t: float, y: np.ndarray, infusing: bool) -> float:
        return float(flow(t, y, infusing)[lung])

    setattr(turns, "direction", -1)  # noqa: B010 - solve_ivp reads the attribute
    y0 = initial_states(model, params, 1)[:, 0]
    tight = {"method": "LSODA", "rtol": 1e-10, "atol": 1e-10}
    first = solve_ivp(flow, (0, dose.duration_day), y0, args=(True,), **tight)
    after = solve_ivp(
        flow, (dose.duration_day, 1.0), first.y[:, -1], args=(False,), events=turns, **tight
    )
    (t_peak,) = after.t_events[0][:1]
    return float(t_peak), float(after.y_events[0][0][lung])


@pytest.mark.parametrize("engine", ["fast", "scipy"])
def test_lung_peak_after_an_infusion_matches_a_tight_reference_solve(engine: EngineName) -> None:
    inputs = prepare_scenario(load_scenario(SCA))
    t_ref, peak_ref = reference_lung_peak(inputs)
    row = _extrema(inputs, engine, outputs=["cells_lung"]).loc["cells_lung"]
    rtol = ENGINE_RTOL[engine]
    assert math.isclose(row["peak_day"], t_ref, rel_tol=rtol)
    assert math.isclose(row["peak"], peak_ref, rel_tol=rtol)
    # The daily output grid alone is far off: the peak is within the first hours.
    assert row["peak_day"] < 0.1 and inputs.times_day[1] == 1.0


def test_blood_and_whole_body_peak_at_the_end_of_the_infusion() -> None:
    inputs = prepare_scenario(load_scenario(SCA))
    table = _extrema(inputs, outputs=["cells_blood", "cells_total"])
    end = inputs.doses[0].duration_day
    assert np.allclose(table["peak_day"], end, rtol=0, atol=1e-12)


def test_an_untreated_course_has_no_cell_and_patients_are_reported_each() -> None:
    scenario = build_scenario(dose=[], simulation={"horizon_days": 10, "n_patients": 3})
    inputs = prepare_scenario(scenario)
    result = simulate(
        inputs.model, inputs.doses, times_day=inputs.times_day, params=inputs.params, n_patients=3
    )
    table = course_extrema(result, inputs)
    cells = table[table["output"] == "cells_total"]
    assert cells["patient_id"].tolist() == [0, 1, 2]
    assert (cells["peak"] == 0).all() and cells["last_day_at_level"].isna().all()


def test_an_unknown_output_is_refused_by_name() -> None:
    inputs = prepare_scenario(build_scenario())
    result = simulate(inputs.model, inputs.doses, times_day=inputs.times_day, params=inputs.params)
    with pytest.raises(SpecError, match="outputs = 'cells_brain'"):
        course_extrema(result, inputs, outputs=["cells_brain"])


def test_dense_times_keep_every_given_time_and_add_points_after_each_dose() -> None:
    doses = [
        ResolvedDose(0.0, Route.INTRAVENOUS, np.array([1.0]), duration_day=1 / 24),
        ResolvedDose(90.0, Route.INTRAVENOUS, np.array([1.0])),
    ]
    given = np.arange(0.0, 121.0)
    dense = dense_times(doses, given)
    assert np.array_equal(dense[np.searchsorted(dense, given)], given)
    assert np.all(np.diff(dense) > 1e-6)
    for start in (0.0, 1 / 24, 90.0):
        assert np.count_nonzero((dense > start) & (dense < start + 1)) >= 20
    assert not np.any((dense > 8) & (dense < 90) & (dense % 1 != 0))


def test_patients_on_their_own_schedules_each_get_the_extrema_of_their_own_problem() -> None:
    base = prepare_scenario(load_scenario(SCA))
    infused = ev(1e8, route="intravenous", infusion_hours=1)
    boluses = ev(5e7, route="intramuscular", day=3, every_days=5, count=2)
    plan = infused.to(0, 2) + boluses.to(1)
    params = {**base.params, "weight_kg": np.array([60.0, 70.0, 80.0])}
    ids = np.array([10, 11, 12])
    problem = Problem(base.model, params, plan.table(3), base.times_day, patient_ids=ids)
    names = ["cells_total", "cells_lung"]
    table = simulate_course(problem).extrema(names)
    assert list(table.columns) == list(EXTREMA_COLUMNS)
    assert table["patient_id"].tolist() == [10, 10, 11, 11, 12, 12]
    assert table["output"].tolist() == names * 3
    for row, own in enumerate((infused, boluses, infused)):
        weight = {**base.params, "weight_kg": params["weight_kg"][row : row + 1]}
        alone = Problem(base.model, weight, own.table(1), base.times_day)
        expected = simulate_course(alone).extrema(names)
        got = table.iloc[2 * row : 2 * row + 2].reset_index(drop=True)
        pd.testing.assert_frame_equal(
            got.drop(columns="patient_id"), expected.drop(columns="patient_id"), rtol=1e-12
        )


@dataclass
class CountingSolver:
    """A custom solver: ``inner`` with a count of its calls."""

    inner: Solver
    calls: int = 0

    @property
    def name(self) -> str:
        return "counting"

    def integrate(
        self,
        model: Model,
        params: Params,
        schedule: Schedule,
        y0: Array,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Integration:
        self.calls += 1
        return self.inner.integrate(model, params, schedule, y0, progress=progress)


def test_the_extrema_of_a_course_resume_with_the_solver_object_that_made_it() -> None:
    inputs = prepare_scenario(load_scenario(SCA))
    solver = CountingSolver(ScipySolver(rtol=1e-9))
    course = simulate_course(inputs, solver)
    assert course.solver is solver
    made = solver.calls
    course.extrema(["cells_lung"])
    assert solver.calls > made
    # A result of a custom solver without that solver cannot be resumed.
    with pytest.raises(SpecError, match="engine = 'counting'"):
        course_extrema(course.run, inputs)


def test_a_tight_scipy_course_has_extrema_only_the_tight_solver_reaches() -> None:
    inputs = prepare_scenario(load_scenario(SCA))
    _, peak_ref = reference_lung_peak(inputs)
    # LSODA at its default rtol 1e-6 is off by about 3e-9 here; at 1e-9, by 4e-11.
    tight = simulate_course(inputs, ScipySolver(rtol=1e-9)).extrema(["cells_lung"]).iloc[0]
    assert math.isclose(tight["peak"], peak_ref, rel_tol=5e-10)
    loose = simulate_course(inputs, ScipySolver()).extrema(["cells_lung"]).iloc[0]
    assert not math.isclose(loose["peak"], peak_ref, rel_tol=5e-10)
