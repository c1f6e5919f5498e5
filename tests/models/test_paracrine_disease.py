"""Paracrine effect and disease courses against their analytic limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import FIRST_ORDER, build_scenario

from mscsim.engine import FastSolver, ScipySolver
from mscsim.evidence.library import load_library
from mscsim.models import TherapyModel
from mscsim.models.paracrine import EFFECT_FLOOR, effect
from mscsim.population import simulate_scenario
from mscsim.problem import prepare_scenario

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*outside the plausible range:mscsim.errors.MscsimWarning"
)

LIB = load_library()
DAYS_PER_YEAR = 365.25

# Cells that neither die nor leave: the target holds a constant number of secreting cells.
CONSTANT_CELLS = {**FIRST_ORDER, "target_half_life_days": math.inf}
CELLS = 2e7


def _p(name: str, site: str = "systemic") -> float:
    return LIB.get(name).default(site).value


def _constant_exposure(disease: dict[str, object], horizon: float, **parameters: float):
    scenario = build_scenario(
        dose=[{"route": "intramuscular", "cells": CELLS}],
        disease=disease,
        simulation={"horizon_days": horizon, "output_every_days": 0.5},
        parameters={**CONSTANT_CELLS, **parameters},
    )
    return simulate_scenario(scenario)


def _steady_effect() -> float:
    sigma = _p("secretion_per_million_cells") * 1e-6
    factor = sigma * CELLS * _p("factor_half_life_days") / math.log(2.0)
    x = factor / _p("effect_ec50_ng", "intramuscular")
    return _p("effect_emax") * x / (1 + x)


@given(
    factor=st.floats(0, 1e6),
    ec50=st.floats(1e-3, 1e3),
    hill=st.floats(0.5, 4.0),
    emax=st.floats(0.1, 1.0),
)
@settings(max_examples=200, deadline=None)
def test_effect_is_an_emax_curve_between_zero_and_emax(
    factor: float, ec50: float, hill: float, emax: float
) -> None:
    p = {
        "effect_emax": np.array([emax]),
        "effect_ec50_ng": np.array([ec50]),
        "effect_hill": np.array([hill]),
    }
    e = float(effect(np.array([factor]), p)[0])
    assert 0.0 <= e <= emax
    assert float(effect(np.array([ec50]), p)[0]) == pytest.approx(emax / 2, rel=1e-12)
    x = (factor / ec50) ** hill
    share, floor = x / (1 + x), EFFECT_FLOOR / (1 + EFFECT_FLOOR)
    if share >= 2 * floor:  # the Emax curve itself
        assert e == pytest.approx(emax * share, rel=1e-12, abs=1e-300)
    elif share <= floor:  # below the floor: no effect
        assert e == 0.0
    else:  # a straight ramp from 0 at the floor to the curve at twice the floor
        assert e == pytest.approx(emax * 2 * (share - floor), rel=1e-9, abs=1e-300)


def test_factor_reaches_secretion_over_loss_under_constant_cells() -> None:
    r = _constant_exposure({"model": "none"}, horizon=2.0)
    sigma = _p("secretion_per_million_cells") * 1e-6
    k = math.log(2.0) / _p("factor_half_life_days")
    t = r.times_day
    expected = sigma * CELLS / k * (1 - np.exp(-k * t))
    np.testing.assert_allclose(r.output("factor")[0], expected, rtol=1e-9)
    assert r.output("effect")[0, -1] == pytest.approx(_steady_effect(), rel=1e-9)
    np.testing.assert_allclose(r.output("exposure_cell_days")[0], CELLS * t, rtol=1e-12)


def test_no_cells_no_factor_no_effect() -> None:
    r = simulate_scenario(build_scenario(dose=[], disease={"model": "sca", "baseline_score": 10}))
    assert not np.any(r.output("factor"))
    assert not np.any(r.output("effect"))


def test_potency_scales_secretion() -> None:
    base = build_scenario(parameters=CONSTANT_CELLS)
    double = build_scenario(
        product={"source": "bone_marrow", "donor": "autologous", "viability": 1.0, "potency": 2.0},
        parameters=CONSTANT_CELLS,
    )
    a = simulate_scenario(base).output("factor")[0]
    b = simulate_scenario(double).output("factor")[0]
    np.testing.assert_allclose(b, 2 * a, rtol=1e-12)


@pytest.mark.parametrize("genotype", ["SCA1", "SCA2", "SCA3", "SCA6", "pooled"])
def test_untreated_sara_rises_by_the_genotype_rate_per_year(genotype: str) -> None:
    scenario = build_scenario(
        dose=[],
        disease={"model": "sca", "genotype": genotype, "baseline_score": 12},
        simulation={"horizon_days": 2 * DAYS_PER_YEAR, "output_every_days": DAYS_PER_YEAR},
    )
    score = simulate_scenario(scenario).output("sara_score")[0]
    rate = _p(f"sara_progression_{genotype.lower()}_per_year")
    # Exact steps of a year across a stiff kinetics block round to ~1e-10.
    np.testing.assert_allclose(score, [12, 12 + rate, 12 + 2 * rate], rtol=1e-9)


def test_untreated_sara_is_clipped_at_40() -> None:
    scenario = build_scenario(
        dose=[],
        disease={"model": "sca", "genotype": "SCA1", "baseline_score": 39},
        simulation={"horizon_days": 3 * DAYS_PER_YEAR},
    )
    assert simulate_scenario(scenario).output("sara_score")[0, -1] == 40.0


def test_untreated_perfusion_recovers_exponentially_to_its_plateau() -> None:
    scenario = build_scenario(
        dose=[],
        disease={"model": "limb_ischemia", "baseline_perfusion_ratio": 0.3},
        simulation={"horizon_days": 60},
    )
    r = simulate_scenario(scenario)
    plateau, half = _p("perfusion_plateau_ratio"), _p("perfusion_half_life_days")
    expected = plateau - (plateau - 0.3) * 2.0 ** (-r.times_day / half)
    np.testing.assert_allclose(r.output("perfusion_ratio")[0], expected, rtol=1e-10)


def test_untreated_inflammation_relaxes_to_its_steady_state() -> None:
    scenario = build_scenario(dose=[], disease={"model": "inflammation", "baseline_index": 3.0})
    r = simulate_scenario(scenario)
    half = _p("inflammation_half_life_days")
    expected = 1 + 2.0 * 2.0 ** (-r.times_day / half)
    np.testing.assert_allclose(r.output("inflammation_index")[0], expected, rtol=1e-10)


def test_inflammation_settles_at_one_minus_imax_times_a_constant_effect() -> None:
    r = _constant_exposure({"model": "inflammation"}, horizon=60.0)
    imax = _p("inflammation_max_inhibition")
    assert r.output("inflammation_index")[0, -1] == pytest.approx(
        1 - imax * _steady_effect(), rel=1e-8
    )


def test_sara_under_constant_effect_slows_and_improves_as_stated() -> None:
    r = _constant_exposure(
        {"model": "sca", "genotype": "SCA3", "baseline_score": 15},
        horizon=200.0,
        sara_benefit_half_life_days=1.0,
    )
    e = _steady_effect()
    rate = _p("sara_progression_sca3_per_year") / DAYS_PER_YEAR
    slowed = rate * (1 - _p("sara_max_slowing") * e)
    score, t = r.output("sara_score")[0], r.times_day
    i, j = np.searchsorted(t, [100.0, 200.0])
    assert (score[j] - score[i]) / (t[j] - t[i]) == pytest.approx(slowed, rel=1e-8)
    # D(200) = 15 + slowed * 200 (the effect is up within hours); U = Umax * e.
    improvement = _p("sara_max_improvement_points") * e
    assert score[j] == pytest.approx(15 + slowed * 200 - improvement, abs=2e-3)


def test_perfusion_recovers_faster_under_a_constant_effect() -> None:
    r = _constant_exposure(
        {"model": "limb_ischemia", "baseline_perfusion_ratio": 0.3}, horizon=30.0
    )
    plateau = _p("perfusion_plateau_ratio")
    k = math.log(2.0) / _p("perfusion_half_life_days")
    k_treated = k * (1 + _p("perfusion_max_acceleration") * _steady_effect())
    gap = plateau - r.output("perfusion_ratio")[0]
    t = r.times_day
    i, j = np.searchsorted(t, [5.0, 15.0])
    assert math.log(gap[i] / gap[j]) / (t[j] - t[i]) == pytest.approx(k_treated, rel=1e-8)


@pytest.mark.parametrize(
    "disease",
    [
        {"model": "sca", "genotype": "SCA2", "baseline_score": 10},
        {"model": "limb_ischemia"},
        {"model": "inflammation", "baseline_index": 1.5},
    ],
)
def test_fast_and_scipy_engines_agree_on_disease_courses(disease: dict[str, object]) -> None:
    scenario = build_scenario(
        dose=[{"route": "intramuscular", "cells": 1.5e8, "day": 2, "every_days": 10, "count": 3}],
        disease=disease,
        simulation={"horizon_days": 60, "output_every_days": 1},
    )
    fast = simulate_scenario(scenario, solver=FastSolver())
    slow = simulate_scenario(scenario, solver=ScipySolver())
    assert set(fast.outputs) == set(TherapyModel().output_names) | {
        scenario.disease.model.replace("sca", "sara_score")
        .replace("limb_ischemia", "perfusion_ratio")
        .replace("inflammation", "inflammation_index")
    }
    for name in fast.outputs:
        a, b = fast.output(name), slow.output(name)
        scale = max(float(np.abs(b).max()), 1e-12)
        assert np.abs(a - b).max() <= 1e-4 * scale, name


def test_every_parameter_of_the_full_model_is_in_the_library() -> None:
    for disease in ("sca", "limb_ischemia", "inflammation"):
        inputs = prepare_scenario(
            build_scenario(
                disease={"model": disease, "baseline_score": 5}
                if disease == "sca"
                else {"model": disease}
            )
        )
        for p in inputs.model.parameters:
            assert p.name in LIB
