"""The Python API honours a scenario's [population], and every analysis validates it."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import mscsim
import mscsim.engine
from mscsim.analysis import compare_scenarios, compare_splits, withdrawal
from mscsim.errors import MscsimWarning, SpecError
from mscsim.population import simulate_population
from mscsim.problem import InProcess, prepare_scenario
from tests.conftest import build_scenario

SCA = {
    "product": {"source": "umbilical_cord", "donor": "allogeneic"},
    "dose": [{"route": "intravenous", "cells_per_kg": 1e6, "every_days": 30, "count": 3}],
    "disease": {"model": "sca", "genotype": "SCA3", "baseline_score": 13},
    "simulation": {"horizon_days": 90},
}
POPULATION = {
    "seed": 5,
    "baseline": {"dist": "normal", "mean": 13, "sd": 3},
    "omega": {"target_half_life_days": 0.3},
}


def sca(population: dict[str, Any] | None = POPULATION, **more: Any) -> Any:
    sections = {**SCA, **more}
    if population is not None:
        sections["population"] = population
    return build_scenario(**sections)


def test_simulate_scenario_samples_the_population() -> None:
    scenario = sca()
    result = mscsim.simulate_scenario(scenario, n_patients=12)
    final = result.output("sara_score")[:, -1]
    assert result.patient_ids.tolist() == list(range(12))
    assert np.std(final) > 0.1  # sampled baselines (SD 3) and half-lives
    chunks = list(simulate_population(scenario, n_patients=12, executor=InProcess(5)))
    streamed = np.concatenate([c.result.output("sara_score") for c in chunks])
    np.testing.assert_allclose(result.output("sara_score"), streamed, rtol=1e-12)


def test_simulate_scenario_without_a_population_gives_the_scenarios_patient() -> None:
    result = mscsim.simulate_scenario(sca(population=None), n_patients=3)
    final = result.output("sara_score")[:, -1]
    assert np.ptp(final) == 0


def test_a_population_problem_needs_a_population_table() -> None:
    with pytest.raises(SpecError, match=r"^population: the scenario has no \[population\]"):
        mscsim.problem_from_population(sca(population=None), 10)


def test_the_population_functions_are_at_the_top_level() -> None:
    assert mscsim.simulate_population is simulate_population
    assert "simulate_population" in mscsim.__all__


BAD_POPULATIONS = [
    (
        {"seed": 1, "omega": {"target_half_lfe_days": 0.3}},
        r"^population\.omega\.target_half_lfe_days = 0\.3: not a parameter of this model; "
        r"did you mean target_half_life_days\?$",
    ),
    (
        {
            "seed": 1,
            "omega": {"target_half_life_days": 0.3},
            "correlation": {"names": ["target_half_life_days", "nope"], "matrix": [[1, 0], [0, 1]]},
        },
        r"^population\.correlation\.names = \['target_half_life_days', 'nope'\]: 'nope' is not "
        r"a parameter of this model$",
    ),
    (
        {
            "seed": 1,
            "omega": {"target_half_life_days": 0.3, "homing_fraction": 0.0},
            "correlation": {
                "names": ["target_half_life_days", "homing_fraction"],
                "matrix": [[1, 0.5], [0.5, 1]],
            },
        },
        r"^population\.correlation\.names = .*'homing_fraction' does not vary; give it an omega",
    ),
]


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(prepare_scenario, id="prepare"),
        pytest.param(lambda s: compare_splits(s, (1, 2)), id="compare_splits"),
        pytest.param(lambda s: compare_scenarios([s]), id="compare_scenarios"),
        pytest.param(lambda s: withdrawal(s, follow_up_days=30), id="withdrawal"),
    ],
)
@pytest.mark.parametrize(("population", "message"), BAD_POPULATIONS)
def test_an_invalid_population_is_refused_everywhere(
    run: Any, population: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        run(sca(population))


@pytest.mark.parametrize(
    ("run", "analysis"),
    [
        (lambda s: compare_splits(s, (1, 2)), "compare"),
        (lambda s: compare_scenarios([s, s], names=["a", "b"]), "compare"),
        (lambda s: withdrawal(s, follow_up_days=30), "withdrawal"),
    ],
)
def test_analyses_of_the_typical_patient_say_once_that_the_population_is_not_used(
    run: Any, analysis: str
) -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        run(sca())
    said = [str(w.message) for w in record if "[population]" in str(w.message)]
    assert len(said) == 1, said
    assert said[0].startswith(f"population: {analysis} simulates ")
    assert said[0].endswith("is not used")
    others = [(w.category.__name__, str(w.message)) for w in record]
    assert all(issubclass(w.category, MscsimWarning) for w in record), others
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        run(sca(population=None))
    assert not [w for w in record if "[population]" in str(w.message)]


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_simulate_scenario_refuses_a_patient_count_that_is_not_a_whole_number(n: Any) -> None:
    with pytest.raises(SpecError, match=r"^n_patients = .*: must be a whole number >= 1$"):
        mscsim.simulate_scenario(sca(), n_patients=n)
