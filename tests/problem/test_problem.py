"""Problems: built from a scenario, a population or in code; solved per patient."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mscsim.engine import FastSolver, ScipySolver, output_times, simulate, solver_named
from mscsim.errors import SpecError
from mscsim.io.scenario import load_scenario
from mscsim.population import problem_from_population, sample_problem
from mscsim.problem import (
    DaskExecutor,
    DoseEvents,
    EvidencePolicy,
    InProcess,
    Problem,
    ev,
    problem_from_scenario,
    solve,
)
from tests.conftest import build_scenario

SCENARIO_TOML = """
[patient]
weight_kg = 70

[product]
source = "bone_marrow"
donor = "autologous"
viability = 0.5

[[dose]]
route = "intramuscular"
cells = 2e7
every_days = 7
count = 3

[simulation]
horizon_days = 28
output_every_days = 0.5
"""


def test_a_problem_built_in_code_equals_the_problem_built_from_its_scenario_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO_TOML)
    from_file = problem_from_scenario(load_scenario(path))
    in_code = Problem(
        model=from_file.model,
        params=from_file.params,
        events=ev(1e7, route="intramuscular", every_days=7, count=3).table(),
        times_day=output_times(28, 0.5),
    )
    assert in_code == from_file
    assert in_code.events.to_frame()["amount_cells"].tolist() == [1e7, 1e7, 1e7]
    np.testing.assert_array_equal(solve(in_code).states, solve(from_file).states)


def test_two_patients_on_two_schedules_each_match_their_own_single_patient_run() -> None:
    base = problem_from_scenario(build_scenario(), n_patients=1)
    first = ev(5e7, route="intramuscular")
    second = ev(2e7, route="intramuscular", day=3, every_days=5, count=4)
    both = Problem(base.model, base.params, (first.to(0) + second.to(1)).table(2), base.times_day)
    together = solve(both)
    for row, plan in enumerate((first, second)):
        alone = solve(Problem(base.model, base.params, plan.table(1), base.times_day))
        np.testing.assert_array_equal(together.states[:, row], alone.states[:, 0])
        for name, values in alone.outputs.items():
            np.testing.assert_array_equal(together.output(name)[row], values[0])
    assert together.patient_ids.tolist() == [0, 1]


def test_per_patient_schedules_agree_with_the_scipy_solver() -> None:
    base = problem_from_scenario(build_scenario(), n_patients=1)
    plan = ev(5e7, route="intramuscular").to(0) + ev(5e7, route="intramuscular", day=2).to(1)
    problem = Problem(base.model, base.params, plan.table(2), base.times_day)
    fast, slow = solve(problem), solve(problem, ScipySolver(rtol=1e-9, atol=1e-3))
    total = fast.output("cells_total")
    np.testing.assert_allclose(total, slow.output("cells_total"), rtol=1e-5, atol=1.0)
    assert total[1, 1] == 0  # the second patient has had no dose by day 1


@pytest.mark.parametrize("lots_vary", [False, True])
def test_a_populations_patients_each_get_cells_per_kg_times_their_own_weight(
    lots_vary: bool,
) -> None:
    scenario = build_scenario(
        product={"source": "bone_marrow", "donor": "autologous", "viability": 0.8},
        dose=[{"route": "intramuscular", "cells_per_kg": 1e6, "every_days": 7, "count": 2}],
        population={"seed": 3, "lot_variability": lots_vary},
    )
    problem = problem_from_population(scenario, 6)
    weight = problem.params["weight_kg"]
    assert weight.shape == (6,) and np.unique(weight).size == 6
    typical = problem_from_scenario(scenario, n_patients=1)
    _, patients = sample_problem(typical, scenario, np.arange(6))
    viability = patients.covariates["lot_viability"] if lots_vary else np.full(6, 0.8)
    table = problem.events.to_frame()
    assert table.groupby("patient").size().tolist() == [2] * 6
    rows = table["patient"].to_numpy()
    expected = 1e6 * weight[rows] * np.asarray(viability)[rows]
    np.testing.assert_allclose(table["amount_cells"], expected, rtol=1e-15)


def test_the_policy_is_checked_when_the_problem_is_built() -> None:
    scenario = build_scenario(dose=[{"route": "intramuscular", "cells_per_kg": 2e7}])
    with pytest.raises(SpecError, match=r"^dose\[0\] = .*allow_beyond_evidence=True"):
        problem_from_scenario(scenario)
    with pytest.warns(UserWarning, match="beyond the highest studied"):
        problem = problem_from_scenario(scenario, policy=EvidencePolicy(allow_beyond_evidence=True))
    assert problem.provenance is not None and problem.lot is None


def test_solve_puts_patients_back_in_order_whatever_the_grouping() -> None:
    base = problem_from_scenario(build_scenario(), n_patients=1)
    rows = [(p, float(p % 3), 1e7 * (p + 1), "intramuscular", 0.0) for p in range(7)]
    problem = Problem(base.model, base.params, DoseEvents.from_rows(rows), base.times_day)
    assert len(problem.schedule_groups()) == 3
    result = solve(problem)
    for p in range(7):  # equal up to rounding: a group's amounts are one vector
        alone = solve(problem.take(np.array([p])))
        np.testing.assert_allclose(result.states[:, p], alone.states[:, 0], rtol=1e-14, atol=0)


def test_simulate_accepts_a_solver_object_or_an_engine_name() -> None:
    p = problem_from_scenario(build_scenario(), n_patients=1)
    by_name = simulate(p.model, p.doses, times_day=p.times_day, params=p.params, engine="scipy")
    by_object = simulate(
        p.model, p.doses, times_day=p.times_day, params=p.params, solver=ScipySolver()
    )
    np.testing.assert_array_equal(by_name.states, by_object.states)
    assert by_name.engine == "scipy" and solver_named("fast") == FastSolver()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FastSolver(max_step_day=0), "max_step_day = 0"),
        (lambda: ScipySolver(rtol=-1), "rtol = -1"),
        (lambda: solver_named("euler"), "engine = 'euler'"),
        (lambda: InProcess(chunk_size=0), "chunk_size = 0"),
        (lambda: DaskExecutor("lan:4"), "dask address = 'lan:4'"),
        (lambda: DaskExecutor("tcp://"), r"dask address = 'tcp://': use tcp://HOST:PORT"),
        (lambda: DaskExecutor("tcp://host"), r"dask address = 'tcp://host': use tcp://HOST:PORT"),
        (lambda: DaskExecutor("local:x"), "local:N needs a whole number"),
        (lambda: ev(1e7, route="oral"), "ev route = 'oral'"),
        (lambda: ev(1e7, route="intravenous", count=2), "ev every_days = None"),
        (lambda: ev(-1.0, route="intravenous"), "ev amount_cells = -1.0"),
        (lambda: ev(1.0, route="intravenous").to(3).table(2), "events.patient: 3"),
        (
            lambda: ev(1.0, route="intravenous").to(0, 0),
            r"ev\(...\).to\(0, 0\): give one or more distinct",
        ),
        (
            lambda: ev(1e7, route="intravenous", infusion_hours=1e-8).table(1),
            "events.duration_day: an infusion lasts at least one minute",
        ),
        (
            lambda: problem_from_scenario(build_scenario(), n_patients=0),
            "n_patients = 0: must be a whole number >= 1",
        ),
    ],
)
def test_bad_options_are_refused_naming_the_option(make: object, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("[", r"\[")):
        make()  # type: ignore[operator]


def test_take_refuses_a_repeated_or_unknown_row() -> None:
    problem = problem_from_scenario(build_scenario(), n_patients=2)
    for rows in ([0, 0], [2]):
        with pytest.raises(SpecError, match=r"^rows = .*: give distinct patient rows from 0 to 1"):
            problem.take(np.array(rows))


def test_in_process_maps_in_order_with_progress() -> None:
    calls: list[tuple[int, int]] = []
    out = list(
        InProcess().map(lambda x: x * 2, [1, 2, 3], progress=lambda d, t: calls.append((d, t)))
    )
    assert out == [2, 4, 6] and calls == [(1, 3), (2, 3), (3, 3)]
