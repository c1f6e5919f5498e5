"""Withdrawal: MSCs fade without rebound; the reference drug shows tolerance and rebound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mscsim.analysis import msc_withdrawal, reference_drug_withdrawal, withdrawal
from mscsim.errors import SpecError
from mscsim.io.scenario import load_scenario
from tests.conftest import build_scenario

# Doses far enough apart (37 IM half-lives) that no cell of one is left at the next.
REGIMEN = [{"route": "intramuscular", "cells": 8e7, "day": 0, "every_days": 150, "count": 3}]
DISEASES = [
    {"model": "sca", "genotype": "SCA1", "baseline_score": 10},
    {"model": "limb_ischemia"},
    {"model": "inflammation", "baseline_index": 2.0},
]


# An allogeneic product without donor-specific memory (multiplier 1), and one with it.
PRODUCTS = {
    "autologous": ({"donor": "autologous"}, {}),
    "allogeneic_unsensitised": ({"donor": "allogeneic"}, {"sensitised_clearance_multiplier": 1}),
    "allogeneic_sensitising": ({"donor": "allogeneic"}, {}),
}


@pytest.mark.parametrize("disease", DISEASES, ids=lambda d: str(d["model"]))
@pytest.mark.parametrize("product", PRODUCTS)
def test_msc_models_show_no_rebound_and_tolerance_only_from_sensitisation(
    disease: dict[str, object], product: str
) -> None:
    donor, parameters = PRODUCTS[product]
    scenario = build_scenario(
        product={"source": "bone_marrow", "viability": 0.9, **donor},
        dose=REGIMEN,
        disease=disease,
        simulation={"horizon_days": 300},
        parameters=parameters,
    )
    w = msc_withdrawal(scenario, follow_up_days=200)
    assert w.stop_day == 300
    assert w.rebound <= 1e-9
    assert w.benefit_at_stop > 0
    if product == "allogeneic_sensitising":
        # Memory clears later doses faster: less effect per dose, still no rebound.
        assert w.tolerance_index < 1 - 1e-3
    else:
        assert w.tolerance_index == pytest.approx(1.0, abs=1e-9)
    stopped = w.courses[w.courses["course"] == "stopped"]["outcome"].to_numpy()
    untreated = w.courses[w.courses["course"] == "untreated"]["outcome"].to_numpy()
    sign = 1 if w.higher_is_worse else -1
    assert (sign * (untreated - stopped) >= -1e-9).all()


def test_reference_drug_shows_tolerance_and_a_clear_rebound() -> None:
    w = reference_drug_withdrawal(0.0, 60.0, 120.0)
    assert w.rebound > 0.05
    assert w.rebound_day is not None and 60 < w.rebound_day < 75
    assert w.tolerance_index < 0.8
    assert w.fade_days is not None and w.fade_days < 5


def test_reference_drug_without_feedback_shows_neither() -> None:
    # A very slow moderator never builds up: no tolerance, no rebound. (A short drug
    # half-life keeps one day's dose from adding to the next.)
    with pytest.warns(match="plausible range"):
        w = reference_drug_withdrawal(
            0.0,
            30.0,
            60.0,
            parameters={"tolerance_half_life_days": 1e6, "drug_half_life_days": 0.02},
        )
    assert w.rebound < 1e-3
    assert w.tolerance_index == pytest.approx(
        1.0, abs=5e-3
    )  # response half-life 0.1 d: 1e-3 carries over


def test_the_sca_example_gives_both_answers_with_stable_keys() -> None:
    result = withdrawal(load_scenario("examples/sca_uc_msc_iv.toml"))
    data = result.to_dict()
    assert set(data) == {"msc", "reference_drug"}
    for part in data.values():
        assert {"rebound", "fade_days", "tolerance_index", "outcome", "outcome_unit"} <= set(part)
    assert data["msc"]["rebound"] <= 1e-9 and data["reference_drug"]["rebound"] > 0.05
    assert data["msc"]["stop_day"] == 270
    assert result.to_frame().shape[1] == 2


def test_an_earlier_stop_drops_later_doses() -> None:
    scenario = build_scenario(dose=REGIMEN, disease=DISEASES[1], simulation={"horizon_days": 300})
    w = msc_withdrawal(scenario, stop_day=150, follow_up_days=30)
    assert w.stop_day == 150
    assert w.courses["day"].max() == 300
    assert not math.isnan(w.tolerance_index)


@pytest.mark.parametrize(
    ("sections", "kwargs", "message"),
    [
        ({"dose": REGIMEN}, {}, "has no outcome"),
        ({"dose": [{"route": "intramuscular", "cells": 1e7}], "disease": DISEASES[1]}, {}, "two"),
        ({"dose": REGIMEN, "disease": DISEASES[1]}, {"stop_day": -1.0}, "stop_day = -1"),
        ({"dose": REGIMEN, "disease": DISEASES[1]}, {"follow_up_days": 0.0}, "follow_up_days"),
        # Bounded work: a stop after the last dose or a century-long follow-up is refused.
        (
            {"dose": REGIMEN, "disease": DISEASES[1]},
            {"stop_day": 1e9},
            r"stop_day = 1e\+09: must be from the first dose \(day 0\) to the last \(day 300\)",
        ),
        (
            {"dose": REGIMEN, "disease": DISEASES[1]},
            {"follow_up_days": 1e9},
            "follow_up_days = 1000000000.0: must be > 0 and at most 36525",
        ),
    ],
)
def test_bad_withdrawal_requests_are_refused(
    sections: dict[str, object], kwargs: dict[str, float], message: str
) -> None:
    scenario = build_scenario(**sections, simulation={"horizon_days": 300})
    with pytest.raises(SpecError, match=message):
        msc_withdrawal(scenario, **kwargs)  # type: ignore[arg-type]


def test_withdrawal_of_a_problem_with_several_patients_is_refused() -> None:
    from mscsim.analysis import withdrawal_analysis
    from mscsim.problem import problem_from_scenario

    scenario = build_scenario(dose=REGIMEN, disease=DISEASES[1], simulation={"horizon_days": 300})
    problem = problem_from_scenario(scenario, n_patients=3)
    with pytest.raises(SpecError, match=r"^n_patients = 3: withdrawal simulates one patient"):
        withdrawal_analysis(problem, stop_day=150, horizon_day=400)
    assert (
        withdrawal_analysis(problem.take(np.array([0])), stop_day=150, horizon_day=400).rebound >= 0
    )
