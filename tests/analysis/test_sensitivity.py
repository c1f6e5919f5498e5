"""Sensitivity and uncertainty: Sobol on Ishigami, the model, local derivatives, LHS."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mscsim.analysis.calibration import LOWEST_SHARE
from mscsim.analysis.sensitivity import (
    ParameterSpace,
    evaluate,
    evaluate_sample,
    latin_hypercube,
    local_sensitivity,
    morris,
    scenario_space,
    sobol,
    summary_named,
    uncertainty,
)
from mscsim.errors import SpecError
from mscsim.io.scenario import load_scenario
from mscsim.problem import InProcess, problem_from_scenario, solve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCA = load_scenario(EXAMPLES / "sca_uc_msc_iv.toml")
IM = load_scenario(EXAMPLES / "cli_bm_msc_im.toml")
A, B = 7.0, 0.1
CUBE = ParameterSpace(("x1", "x2", "x3"), ((-math.pi, math.pi),) * 3, (False,) * 3)


def ishigami(x: np.ndarray) -> np.ndarray:
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


def ishigami_indices() -> tuple[np.ndarray, np.ndarray]:
    """The first-order and total indices from the function's analytic variance decomposition."""
    pi = math.pi
    v1 = 0.5 * (1 + B * pi**4 / 5) ** 2
    v2 = A**2 / 8
    v13 = B**2 * pi**8 * (1 / 18 - 1 / 50)
    total = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / total, np.array([v1 + v13, v2, v13]) / total


def test_sobol_on_ishigami_matches_the_analytic_indices_within_the_confidence() -> None:
    s1, st = ishigami_indices()
    assert np.allclose(s1, [0.3139, 0.4424, 0.0], atol=1e-4)
    assert np.allclose(st, [0.5576, 0.4424, 0.2437], atol=1e-4)
    result = sobol(ishigami, CUBE, n=1024, seed=1)
    assert np.all(np.abs(result.s1 - s1) <= result.s1_conf)
    assert np.all(np.abs(result.st - st) <= result.st_conf)
    assert result.n_evaluations == 1024 * 5
    frame = result.to_frame()
    assert list(frame.columns) == ["parameter", "S1", "S1_conf", "ST", "ST_conf"]


def test_sobol_is_reproducible_with_its_seed() -> None:
    one = sobol(ishigami, CUBE, n=64, seed=3).to_frame()
    assert one.equals(sobol(ishigami, CUBE, n=64, seed=3).to_frame())
    assert not one.equals(sobol(ishigami, CUBE, n=64, seed=4).to_frame())


def test_morris_screens_out_a_parameter_without_effect() -> None:
    space = ParameterSpace(("a", "b", "c"), ((0.0, 1.0), (1.0, 100.0), (0.0, 1.0)), (False,) * 3)
    result = morris(lambda x: 3 * x[:, 0] + np.log10(x[:, 1]), space, n_trajectories=8, seed=0)
    mu_star = dict(zip(result.names, result.mu_star, strict=True))
    assert mu_star["c"] == 0.0
    assert mu_star["a"] > 0 and mu_star["b"] > 0
    assert list(result.to_frame().columns) == [
        "parameter",
        "mu",
        "mu_star",
        "mu_star_conf",
        "sigma",
    ]


def test_library_space_is_log_for_rates_and_uniform_for_fractions() -> None:
    space = ParameterSpace.from_library(
        ["homing_fraction", "target_half_life_days", "immune_clearance_per_day", "effect_hill"]
    )
    frame = space.to_frame().set_index("parameter")
    assert frame.loc["homing_fraction", "scale"] == "linear"
    assert frame.loc["target_half_life_days", "scale"] == "log"
    # a rate whose range starts at 0 is log-uniform from a share of its upper end
    assert frame.loc["immune_clearance_per_day", "scale"] == "log"
    assert frame.loc["immune_clearance_per_day", "low"] == pytest.approx(LOWEST_SHARE * 0.5)
    assert frame.loc["effect_hill", "scale"] == "linear"  # within one decade


def test_guessed_parameters_leave_out_unbounded_ranges_and_refuse_them_by_name() -> None:
    space = scenario_space(SCA)
    assert "target_capacity_cells" not in space.names
    assert "homing_fraction" in space.names
    assert "dsa_probability" not in space.names  # seen in a source, not a guess
    with pytest.raises(SpecError, match="target_capacity_cells: its plausible range"):
        scenario_space(SCA, ["target_capacity_cells"])
    with pytest.raises(SpecError, match="parameters = nope: not a parameter"):
        scenario_space(SCA, ["nope"])


def test_site_ranges_apply_at_a_local_target() -> None:
    low, high = scenario_space(IM, ["effect_ec50_ng"]).bounds[0]
    from mscsim.evidence import load_library

    assert (low, high) == load_library().get("effect_ec50_ng").default("intramuscular").plausible


def test_latin_hypercube_is_reproducible_and_stratified() -> None:
    space = ParameterSpace(("a", "b"), ((0.0, 1.0), (1.0, 1000.0)), (False, True))
    one = latin_hypercube(space, 20, seed=7)
    assert np.array_equal(one, latin_hypercube(space, 20, seed=7))
    assert not np.array_equal(one, latin_hypercube(space, 20, seed=8))
    strata_a = np.floor(one[:, 0] * 20)
    strata_b = np.floor(np.log10(one[:, 1]) / 3 * 20)
    assert sorted(strata_a) == list(range(20))
    assert sorted(strata_b) == list(range(20))


def test_local_sensitivity_of_a_power_law_is_its_exponents() -> None:
    space = ParameterSpace(("k", "v", "f"), ((0.1, 10.0), (0.1, 10.0), (0.1, 1.0)), (True,) * 3)
    result = local_sensitivity(
        lambda x: 3 * x[:, 0] ** 2 / np.sqrt(x[:, 1]) * x[:, 2],
        space,
        at={"k": 2.0, "v": 4.0, "f": 1.0},  # f at its upper end: backward difference
    )
    assert result.elasticity == pytest.approx([2.0, -0.5, 1.0], rel=1e-3)
    assert result.value == pytest.approx(3.0 * 4.0 / 2.0)


def _exposure(overrides: dict[str, float]) -> float:
    """Target cell-days of the SCA scenario with overrides, through the scenario itself."""
    scenario = SCA.model_copy(update={"parameters": {**SCA.parameters, **overrides}})
    result = solve(problem_from_scenario(scenario, n_patients=1).with_times([0.0, 365.0]))
    return float(result.output("exposure_cell_days")[0, -1])


@pytest.mark.slow
def test_local_sensitivity_on_the_model_matches_a_hand_computation() -> None:
    space = scenario_space(SCA, ["homing_fraction", "target_half_life_days"])
    result = local_sensitivity("target_cell_days", space, SCA, step=0.02)
    y0 = _exposure({})
    assert result.value == pytest.approx(y0, rel=1e-9)
    for name, at, elasticity in zip(result.names, result.at, result.elasticity, strict=True):
        up = _exposure({name: at * math.exp(0.02)})
        down = _exposure({name: at * math.exp(-0.02)})
        assert elasticity == pytest.approx((up - down) / (0.04 * y0), rel=1e-6)
    # cells at the target scale with the share that homes there
    assert result.elasticity[0] == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_parameter_sets_batched_and_chunked_give_each_set_its_own_value() -> None:
    names = ("homing_fraction", "effect_ec50_ng")
    values = np.array([[0.01, 0.24], [0.03, 0.05], [0.002, 1.5]])
    together = evaluate_sample("outcome_change", SCA, names, values)
    chunked = evaluate_sample(
        "outcome_change", SCA, names, values, executor=InProcess(chunk_size=2)
    )
    alone = [evaluate("outcome_change", SCA, dict(zip(names, row, strict=True))) for row in values]
    assert np.array_equal(together, chunked)
    assert together == pytest.approx(alone, rel=1e-9)
    assert len(set(together.round(9))) == 3


@pytest.mark.slow
def test_sobol_on_the_model_gives_first_order_indices_within_bounds() -> None:
    space = scenario_space(
        SCA,
        ["homing_fraction", "target_half_life_days", "effect_ec50_ng", "sara_max_slowing"],
    )
    result = sobol("outcome_change", space, SCA, n=128, seed=0)
    assert np.all(result.s1 >= -result.s1_conf)
    assert np.all(result.s1 <= 1 + result.s1_conf)
    assert result.s1.sum() <= 1 + math.sqrt(np.sum(result.s1_conf**2))
    assert np.all(result.st >= result.s1 - result.s1_conf - result.st_conf)


@pytest.mark.slow
def test_uncertainty_intervals_are_ordered_and_reproducible() -> None:
    space = scenario_space(SCA, ["homing_fraction", "effect_ec50_ng", "sara_max_slowing"])
    result = uncertainty("outcome_change", space, SCA, n=20, seed=5)
    interval = result.interval()
    assert interval["p5"] <= interval["p50"] <= interval["p95"]
    assert interval["p5"] < interval["p95"]
    assert result.to_frame().shape == (20, 4)
    again = uncertainty("outcome_change", space, SCA, n=20, seed=5)
    assert np.array_equal(result.values, again.values)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sobol(ishigami, CUBE, n=100), "n = 100: Sobol sampling needs a power of 2"),
        (lambda: summary_named("auc"), "summary = 'auc': one of effect_auc"),
        (
            lambda: summary_named("effect_auc", day=30),
            "summary day = 30: only for outcome_change",
        ),
        (
            lambda: evaluate(
                "outcome_change", load_scenario(EXAMPLES / "organs_mouse_iv.toml"), {}
            ),
            "disease: summary outcome_change needs a scenario with a \\[disease\\]",
        ),
        (lambda: sobol(ishigami, CUBE, SCA, n=64), "scenario: give a scenario with a named"),
        (lambda: sobol("effect_auc", CUBE, n=64), "scenario: a named summary needs"),
        (
            lambda: ParameterSpace(("a",), ((0.0, 1.0),), (True,)),
            "a range = \\[0, 1\\]: a log scale needs low > 0",
        ),
    ],
)
def test_bad_requests_are_refused_in_one_line(call: object, message: str) -> None:
    with pytest.raises(SpecError, match=message) as err:
        call()  # type: ignore[operator]
    assert "\n" not in str(err.value)
