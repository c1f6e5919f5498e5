"""SBML export: the written model, simulated by libRoadRunner, is mscsim's own solution."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mscsim.engine.solvers import FastSolver, ScipySolver, Solver
from mscsim.errors import SpecError
from mscsim.io.sbml import (
    affine_outputs,
    nonlinear_fields,
    problem_to_sbml,
    ratio_outputs,
    scenario_to_sbml,
)
from mscsim.io.scenario import load_scenario
from mscsim.models import TherapyModel
from mscsim.models.base import Array, Model, Params
from mscsim.models.immunity import priming_gain
from mscsim.problem.build import problem_from_scenario
from mscsim.problem.problem import solve
from mscsim.spec.scenario import Scenario

libsbml = pytest.importorskip("libsbml")
roadrunner = pytest.importorskip("roadrunner")

PATIENT = """
[patient]
weight_kg = 70
"""
AUTOLOGOUS = """
[product]
source = "bone_marrow"
donor = "autologous"
viability = 0.9
"""
IV_COURSE = """
[[dose]]
route = "intravenous"
cells_per_kg = 1e6
day = 0

[[dose]]
route = "intravenous"
cells_per_kg = 1e6
day = 3
infusion_hours = 2

[[dose]]
route = "intravenous"
cells_per_kg = 1e6
day = 7
"""
HORIZON = """
[simulation]
horizon_days = 14
output_every_days = 0.5
"""
REDUCED = {
    "intravenous bolus, infusion, bolus": PATIENT + AUTOLOGOUS + IV_COURSE + HORIZON,
    "intramuscular, no capacity": PATIENT
    + AUTOLOGOUS
    + """
[[dose]]
route = "intramuscular"
cells = 5e7
day = 0

[[dose]]
route = "intra_arterial"
cells = 1e7
day = 2

[parameters]
target_capacity_cells = inf
"""
    + HORIZON,
}


def organ_scenario(species: str, label: str | None) -> str:
    text = f'[patient]\nspecies = "{species}"\n' + AUTOLOGOUS + IV_COURSE + HORIZON
    text += '\n[model]\nkinetics = "organs"\n'
    return text + (f'\n[label]\nkind = "{label}"\n' if label else "")


ORGANS = {
    f"organs {species} {label}": organ_scenario(species, label)
    for species, label in [("human", None), ("mouse", "indium_111"), ("rat", "luciferase")]
}


ALLOGENEIC = AUTOLOGOUS.replace("autologous", "allogeneic")
SPACED_IV_COURSE = """
[[dose]]
route = "intravenous"
cells_per_kg = 1e6
day = 0

[[dose]]
route = "intravenous"
cells_per_kg = 1e6
day = 14
infusion_hours = 2

[[dose]]
route = "intravenous"
cells_per_kg = 1e6
day = 28

[simulation]
horizon_days = 42
output_every_days = 0.5
"""
NONLINEAR = {
    "reduced allogeneic, intravenous x3 (memory)": PATIENT + ALLOGENEIC + SPACED_IV_COURSE,
    "organs human allogeneic indium_111, intravenous x2": """
[model]
kinetics = "organs"

[label]
kind = "indium_111"

[patient]
species = "human"
weight_kg = 70
"""
    + ALLOGENEIC
    + """
[[dose]]
route = "intravenous"
cells = 3e8
day = 0

[[dose]]
route = "intravenous"
cells = 3e8
day = 21

[simulation]
horizon_days = 35
output_every_days = 0.25
""",
    "intramuscular above the target capacity": PATIENT
    + AUTOLOGOUS
    + """
[[dose]]
route = "intramuscular"
cells = 1e8
day = 0

[[dose]]
route = "intramuscular"
cells = 1e8
day = 7

[simulation]
horizon_days = 21
output_every_days = 0.5
""",
    "sca allogeneic, intravenous every 60 days": PATIENT
    + ALLOGENEIC
    + """
[[dose]]
route = "intravenous"
cells_per_kg = 1e6
day = 0
every_days = 60
count = 3
infusion_hours = 1

[disease]
model = "sca"
genotype = "SCA3"
baseline_score = 13

[simulation]
horizon_days = 180
output_every_days = 1
""",
}
"""Scenarios whose remainder is not zero, each with its nonlinear term active."""
SWITCH_OFF = {
    "reduced allogeneic, intravenous x3 (memory)": {"sensitised_clearance_multiplier": 1.0},
    "organs human allogeneic indium_111, intravenous x2": {"sensitised_clearance_multiplier": 1.0},
    "intramuscular above the target capacity": {"target_capacity_cells": float("inf")},
    "sca allogeneic, intravenous every 60 days": {"effect_emax": 0.0},
}
"""Per nonlinear scenario, the parameters that make its remainder 0."""
SCA = '[disease]\nmodel = "sca"\ngenotype = "SCA3"\nbaseline_score = 13\n'
CAPACITY = "[parameters]\ntarget_capacity_cells = 1e8\n"
TIGHT = FastSolver(rtol=1e-10, atol=1e-12)
"""mscsim's solution to well below the round trip's 1e-6 (exact steps when linear)."""


def scenario_from(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return load_scenario(path)


def roadrunner_outputs(xml: str, times: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Simulate the SBML at ``times``; an output at a dose time is after the dose, as in mscsim."""
    rr = roadrunner.RoadRunner(xml)
    rr.integrator.relative_tolerance = 1e-12
    rr.integrator.absolute_tolerance = 1e-9
    rr.timeCourseSelections = ["time", *names]
    out = rr.simulate(times=[float(t) for t in times])
    np.testing.assert_allclose(out["time"], times)
    return {name: np.asarray(out[name]) for name in names}


def sbml_ids(xml: str) -> set[str]:
    model = libsbml.readSBMLFromString(xml).getModel()
    species = {model.getSpecies(i).getId() for i in range(model.getNumSpecies())}
    return species | {model.getParameter(i).getId() for i in range(model.getNumParameters())}


def check_round_trip(scenario: Scenario, solver: Solver = TIGHT) -> set[str]:
    """Every output in the SBML matches mscsim to 1e-6 of its peak; return the outputs written."""
    xml = scenario_to_sbml(scenario)
    problem = problem_from_scenario(scenario, n_patients=1)
    ours = solve(problem, solver)
    written = [name for name in ours.outputs if name in sbml_ids(xml)]
    theirs = roadrunner_outputs(xml, problem.times_day, written)
    for name in written:
        expected = ours.output(name)[0]
        peak = np.abs(expected).max()
        assert np.abs(theirs[name] - expected).max() <= 1e-6 * peak + 1e-12, name
    cells = [n for n in ours.outputs if n.startswith(("cells_", "label_fraction_"))]
    assert set(cells) <= set(written)
    return set(written)


@pytest.mark.filterwarnings("ignore:dose.*no human dose evidence")  # intra-arterial
@pytest.mark.parametrize("text", REDUCED.values(), ids=REDUCED.keys())
def test_the_reduced_model_round_trips_through_roadrunner(tmp_path: Path, text: str) -> None:
    written = check_round_trip(scenario_from(tmp_path, text))
    assert {"cells_lung", "cells_liver_spleen", "cells_target", "cells_total"} <= written


@pytest.mark.parametrize("text", ORGANS.values(), ids=ORGANS.keys())
def test_the_organ_model_round_trips_through_roadrunner(tmp_path: Path, text: str) -> None:
    scenario = scenario_from(tmp_path, text)
    written = check_round_trip(scenario)
    assert {"cells_lung", "cells_liver", "cells_spleen", "cells_kidney", "cells_blood"} <= written
    if scenario.label is not None:
        xml = scenario_to_sbml(scenario)
        assert {"label_lung", "label_liver", "label_spleen", "label_fraction_liver"} <= sbml_ids(
            xml
        )


def test_the_document_is_level_3_version_2_in_days_with_one_event_per_dose_time(
    tmp_path: Path,
) -> None:
    xml = scenario_to_sbml(scenario_from(tmp_path, REDUCED["intravenous bolus, infusion, bolus"]))
    doc = libsbml.readSBMLFromString(xml)
    model = doc.getModel()
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    assert model.getTimeUnits() == "day"
    # the two boluses, the infusion's start and its end
    assert model.getNumEvents() == 4
    species = model.getSpecies("lung")
    assert species.getHasOnlySubstanceUnits() and species.getSubstanceUnits() == "cell"
    assert "not affine in its states" in model.getNotesString()
    assert "effect" in model.getNotesString()


def test_an_untreated_scenario_exports_a_model_without_events(tmp_path: Path) -> None:
    xml = scenario_to_sbml(scenario_from(tmp_path, PATIENT + AUTOLOGOUS + HORIZON))
    model = libsbml.readSBMLFromString(xml).getModel()
    assert model.getNumEvents() == 0
    out = roadrunner_outputs(xml, np.array([0.0, 1.0, 14.0]), ["cells_total"])
    assert np.all(out["cells_total"] == 0)


@pytest.mark.parametrize("name", NONLINEAR.keys())
def test_a_nonlinear_scenario_round_trips_with_its_remainder(tmp_path: Path, name: str) -> None:
    scenario = scenario_from(tmp_path, NONLINEAR[name])
    written = check_round_trip(scenario)
    assert "cells_total" in written
    if scenario.disease.model != "none":
        assert {"effect", "sara_underlying", "sara_improvement"} <= written | set(
            sbml_ids(scenario_to_sbml(scenario))
        )


@pytest.mark.filterwarnings("ignore:parameters.effect_emax = 0 is outside")
@pytest.mark.parametrize("name", NONLINEAR.keys())
def test_each_nonlinear_scenario_exercises_its_remainder(tmp_path: Path, name: str) -> None:
    """Without the nonlinear term the outputs move by far more than the round trip's 1e-6."""
    scenario = scenario_from(tmp_path, NONLINEAR[name])
    off = scenario.model_copy(update={"parameters": {**scenario.parameters, **SWITCH_OFF[name]}})
    with_term = solve(problem_from_scenario(scenario, n_patients=1), TIGHT)
    without = problem_from_scenario(off, n_patients=1)
    assert without.model.is_linear(without.model.prepare(without.params)) == (
        scenario.disease.model == "none"
    )
    other = solve(without, TIGHT)
    moved = max(
        np.abs(with_term.output(n)[0] - other.output(n)[0]).max()
        / max(np.abs(with_term.output(n)[0]).max(), 1e-300)
        for n in with_term.outputs
        if n not in {"effect", "sensitisation"}
    )
    assert moved > 1e-3


def test_the_round_trip_agrees_with_scipy_too(tmp_path: Path) -> None:
    scenario = scenario_from(tmp_path, NONLINEAR["reduced allogeneic, intravenous x3 (memory)"])
    check_round_trip(scenario, ScipySolver(rtol=1e-10, atol=1e-10))


def evaluate(formula: str, values: dict[str, Array]) -> Array:
    """Evaluate an SBML L3 infix formula on arrays, following libsbml's parse."""
    node = libsbml.parseL3Formula(formula)
    assert node is not None, libsbml.getLastParseL3Error()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.asarray(_evaluate(node, values), dtype=float)


def _evaluate(node: Any, values: dict[str, Array]) -> Array:
    kind = node.getType()
    args = [_evaluate(node.getChild(i), values) for i in range(node.getNumChildren())]
    if node.isNumber():
        return np.float64(node.getValue())
    if kind == libsbml.AST_NAME:
        return values[node.getName()]
    if kind == libsbml.AST_FUNCTION_PIECEWISE:
        out = args[-1] if len(args) % 2 else np.nan
        for value, condition in reversed(list(zip(args[0::2], args[1::2], strict=False))):
            out = np.where(condition, value, out)
        return out
    operations = {
        libsbml.AST_PLUS: lambda *a: _fold(np.add, a),
        libsbml.AST_TIMES: lambda *a: _fold(np.multiply, a),
        libsbml.AST_MINUS: lambda a, b=None: -a if b is None else a - b,
        libsbml.AST_DIVIDE: np.divide,
        libsbml.AST_POWER: np.power,
        libsbml.AST_FUNCTION_POWER: np.power,
        libsbml.AST_RELATIONAL_GT: np.greater,
        libsbml.AST_RELATIONAL_GEQ: np.greater_equal,
        libsbml.AST_RELATIONAL_LT: np.less,
        libsbml.AST_RELATIONAL_LEQ: np.less_equal,
    }
    return operations[kind](*args)


def _fold(operation: Callable[[Array, Array], Array], args: tuple[Array, ...]) -> Array:
    out = args[0]
    for arg in args[1:]:
        out = operation(out, arg)
    return out


def random_states(model: Model, params: Params, n: int = 4000) -> Array:
    """States across every branch: 0, below and in the floors' ramps, around capacity, large.

    Each state is 0 or log-uniform over 1e-9 to 1e9; in a third of the samples the
    cells are scaled to a total of 0 to 3 (the fade-out at the last cell), in a
    quarter the target holds 0.5 to 2 times its capacity and the factor 0.5 to 3
    times the effect floor. Immune states stay 0 where nothing primes them (they
    start at 0 and only cells prime). ``params`` are prepared.
    """
    rng = np.random.default_rng(13)
    y = 10.0 ** rng.uniform(-9.0, 9.0, (len(model.states), n))
    y[rng.random(y.shape) < 0.05] = 0.0
    assert isinstance(model, TherapyModel)
    cells = [model.states.index(c) for c in model.kinetics.cell_compartments]
    few = rng.random(n) < 1 / 3
    total = y[cells][:, few].sum(axis=0)
    y[np.ix_(cells, np.flatnonzero(few))] *= rng.uniform(0.0, 3.0, few.sum()) / total
    if not np.any(priming_gain(params) != 0):
        y[[model.states.index("immune_primed"), model.states.index("immune_memory")]] = 0.0
    near = {"target": "target_capacity_cells", "factor": "effect_floor_ng"}
    for state, floor in near.items():
        some = rng.random(n) < 1 / 4
        if np.isfinite(params.get(floor, np.inf)).all():
            y[model.states.index(state), some] = params[floor] * rng.uniform(0.5, 3.0, some.sum())
    return y


@pytest.mark.parametrize("name", NONLINEAR.keys())
def test_the_remainder_formulas_equal_the_remainder(tmp_path: Path, name: str) -> None:
    problem = problem_from_scenario(scenario_from(tmp_path, NONLINEAR[name]), n_patients=1)
    model = problem.model
    assert isinstance(model, TherapyModel)
    prepared = model.prepare(problem.params)
    y = random_states(model, prepared)
    expected = model.remainder(0.0, y, prepared)
    values = {state: y[i] for i, state in enumerate(model.states)}
    rows = set()
    for key, formula in model.remainder_formulas(prepared).items():
        value = np.broadcast_to(evaluate(formula, values), y.shape[1:])
        if key in values:
            rows.add(key)
            want = expected[model.states.index(key)]
            scale = np.abs(want).max()
            np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-13 * scale, err_msg=key)
        else:
            values[key] = value
    assert np.all(expected[[i for i, s in enumerate(model.states) if s not in rows]] == 0)
    assert np.count_nonzero(expected) > y.shape[1] / 10


def test_a_model_without_remainder_formulas_is_refused_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(TherapyModel, "remainder_formulas")
    scenario = scenario_from(tmp_path, PATIENT + AUTOLOGOUS + IV_COURSE + HORIZON + CAPACITY)
    with pytest.raises(SpecError, match=r"^parameters\.target_capacity_cells = 1e\+08: ") as err:
        scenario_to_sbml(scenario)
    assert str(err.value).endswith("export-sbml writes it only when linear")
    assert "\n" not in str(err.value)


def test_problem_to_sbml_refuses_a_nonlinear_model_without_formulas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(TherapyModel, "remainder_formulas")
    text = PATIENT + ALLOGENEIC + IV_COURSE + HORIZON
    problem = problem_from_scenario(scenario_from(tmp_path, text), n_patients=1)
    with pytest.raises(SpecError, match="gives no remainder_formulas"):
        problem_to_sbml(problem)


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        (SCA, ["disease.model", "product.donor"]),
        (CAPACITY, ["parameters.target_capacity_cells"]),
        ("", ["product.donor"]),
    ],
)
def test_nonlinear_fields_names_what_makes_a_scenario_nonlinear(
    tmp_path: Path, extra: str, fields: list[str]
) -> None:
    product = AUTOLOGOUS if extra == CAPACITY else ALLOGENEIC
    scenario = scenario_from(tmp_path, PATIENT + product + IV_COURSE + HORIZON + extra)
    assert [name for name, _ in nonlinear_fields(scenario)] == fields


def test_outputs_are_sorted_into_affine_ratios_and_others(tmp_path: Path) -> None:
    scenario = scenario_from(tmp_path, organ_scenario("mouse", "indium_111"))
    problem = problem_from_scenario(scenario, n_patients=1)
    affine, other = affine_outputs(problem.model, problem.params)
    assert {"cells_total", "cells_lung"} <= {o.name for o in affine}
    ratios, rest = ratio_outputs(problem.model, problem.params, other)
    assert {r.name for r in ratios} >= {"label_fraction_lung", "label_fraction_liver"}
    assert {"effect", "sensitisation"} <= set(rest)
    lung = next(o for o in affine if o.name == "cells_lung")
    assert lung.offset == 0 and np.count_nonzero(lung.coefficients) == 1
