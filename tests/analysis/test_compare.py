"""Regimen comparison: splitting keeps the cells; which regimen wins is the model's answer."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mscsim.analysis import (
    COMPARE_COLUMNS,
    compare_scenarios,
    compare_splits,
    split_problem,
    split_scenario,
)
from mscsim.engine.events import output_times
from mscsim.errors import SpecError
from mscsim.io.scenario import load_scenario
from mscsim.models import TherapyModel
from mscsim.problem import DoseEvents, EvidencePolicy, Problem, ev, problem_from_scenario
from mscsim.spec.dose import Dose
from tests.conftest import build_scenario

LIMB = {"model": "limb_ischemia"}


@given(
    k=st.integers(1, 12),
    cells=st.floats(1e6, 1e8),
    viability=st.floats(0.5, 1.0),
    count=st.integers(1, 3),
)
@settings(max_examples=40, deadline=None)
def test_split_keeps_total_viable_cells_route_and_window(
    k: int, cells: float, viability: float, count: int
) -> None:
    dose = {"route": "intramuscular", "cells": cells, "day": 3, "count": count}
    if count > 1:
        dose["every_days"] = 10
    scenario = build_scenario(
        product={"source": "bone_marrow", "donor": "autologous", "viability": viability},
        dose=[dose],
        simulation={"horizon_days": 60},
    )
    split = split_scenario(scenario, k)
    events = split.regimen.expand()
    assert len(events) == k
    assert {e.route for e in events} == {scenario.dose[0].route}
    total = math.fsum(e.cells_for(70) for e in events)
    assert total == pytest.approx(cells * count, rel=1e-12)
    assert events[0].time_day == 3
    window = 10.0 * count if count > 1 else 28.0
    assert events[-1].time_day == pytest.approx(3 + (k - 1) * window / k, rel=1e-12)


def test_compare_conserves_total_viable_cells_across_splits() -> None:
    scenario = load_scenario("examples/cli_bm_msc_im.toml")
    frame = compare_splits(scenario, (1, 2, 3, 4, 8)).table
    assert list(frame.columns) == list(COMPARE_COLUMNS)
    expected = 2e6 * 70 * 0.90
    treated = frame.iloc[:-1]
    np.testing.assert_allclose(treated["total_viable_cells"], expected, rtol=1e-14)
    assert treated["n_doses"].tolist() == [1, 2, 3, 4, 8]
    untreated = frame.iloc[-1]
    assert untreated["regimen"] == "untreated" and untreated["total_viable_cells"] == 0
    assert untreated["effect_auc"] == 0 and untreated["exposure_cell_days"] == 0
    assert frame.attrs["outcome"] == "perfusion_ratio"


def test_saturation_makes_frequent_small_doses_beat_one_large_dose() -> None:
    # Clinical IM dose above retention capacity and in the saturating part of the Emax curve.
    frame = compare_splits(load_scenario("examples/cli_bm_msc_im.toml"), (1, 4)).table
    one, four = frame.iloc[0], frame.iloc[1]
    assert four["effect_auc"] > 1.3 * one["effect_auc"]
    assert four["exposure_cell_days"] > one["exposure_cell_days"]
    assert four["days_above_threshold"] > one["days_above_threshold"]


def test_without_saturation_splitting_changes_neither_exposure_nor_effect() -> None:
    # Linear regime: no retention capacity, factor far below EC50 (effect ~ linear in
    # cells), and no early loss: exposure is proportional to the cells whatever the split.
    # (An effect of a few millionths of its maximum would sit on the effect floor's
    # ramp, which is not linear: EC50 = 1e3 ng keeps it near a thousandth.)
    scenario = build_scenario(
        dose=[{"route": "intramuscular", "cells": 1e6}],
        disease=LIMB,
        simulation={"horizon_days": 120},
        parameters={
            "target_capacity_cells": math.inf,
            "early_loss_fraction": 0.0,
            "effect_ec50_ng": 1e3,
        },
    )
    with pytest.warns(match="plausible range"):
        frame = compare_splits(scenario, (1, 2, 4)).table
    treated = frame.iloc[:-1]
    exposure = treated["exposure_cell_days"].to_numpy()
    np.testing.assert_allclose(exposure, exposure[0], rtol=1e-6)
    auc = treated["effect_auc"].to_numpy()
    # Effect AUCs are read off a 1.2-h grid: each dose's rise costs ~1e-3.
    np.testing.assert_allclose(auc, auc[0], rtol=5e-3)


def test_a_steep_threshold_response_favours_one_large_dose() -> None:
    scenario = build_scenario(
        dose=[{"route": "intramuscular", "cells": 3e7}],
        disease=LIMB,
        simulation={"horizon_days": 60},
        parameters={"effect_hill": 3.0, "effect_ec50_ng": 6.0},
    )
    frame = compare_splits(scenario, (1, 4)).table
    assert frame.iloc[0]["effect_auc"] > 2 * frame.iloc[1]["effect_auc"]


def test_compare_scenarios_gives_a_row_each_and_one_untreated_row() -> None:
    a = build_scenario(disease=LIMB)
    b = build_scenario(dose=[{"route": "intramuscular", "cells": 1e7}], disease=LIMB)
    frame = compare_scenarios([a, b], ["big", "small"]).table
    assert frame["regimen"].tolist() == ["big", "small", "untreated"]
    assert frame.iloc[0]["effect_auc"] > frame.iloc[1]["effect_auc"] > 0
    assert frame.iloc[2]["effect_auc"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"splits": (0,)}, "split = 0"),
        ({"splits": (2, 2)}, "distinct"),
        ({"splits": (8,), "window_days": 100.0}, "after simulation.horizon_days"),
    ],
)
def test_bad_splits_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        compare_splits(build_scenario(disease=LIMB), **kwargs)  # type: ignore[arg-type]


def test_a_scenario_without_doses_cannot_be_split() -> None:
    with pytest.raises(SpecError, match="no doses to split"):
        split_scenario(build_scenario(dose=[]), 2)


@pytest.mark.filterwarnings("ignore:parameters.dsa_probability = 1 is outside")
def test_compare_reports_later_doses_delivering_less_only_for_allogeneic_cells() -> None:
    monthly = [{"route": "intravenous", "cells": 7e7, "every_days": 30, "count": 4}]
    products = {
        donor: build_scenario(
            product={"source": "umbilical_cord", "donor": donor, "viability": 1.0},
            dose=monthly,
            simulation={"horizon_days": 150},
            parameters={"dsa_probability": 1.0},  # a patient who forms antibodies
        )
        for donor in ("autologous", "allogeneic")
    }
    frame = compare_scenarios(list(products.values()), list(products)).table
    ratio = frame.set_index("regimen")["last_dose_exposure_ratio"]
    assert ratio["autologous"] == pytest.approx(1.0, rel=1e-6)
    assert ratio["allogeneic"] < 0.9
    assert math.isnan(ratio["untreated"])


@pytest.mark.parametrize("window", [0.0, -1.0, math.inf, math.nan])
def test_a_split_window_that_is_not_a_finite_positive_day_count_is_refused(window: float) -> None:
    scenario = load_scenario("examples/cli_bm_msc_im.toml")
    with pytest.raises(SpecError, match=r"^window_days = .*: must be a finite number of days > 0"):
        split_scenario(scenario, 2, window)


CLI = "examples/cli_bm_msc_im.toml"


def _problem_in_code() -> Problem:
    """The patient of ``CLI`` built in code: its model and parameters, events from ``ev``."""
    patient = problem_from_scenario(load_scenario(CLI), n_patients=1)
    events = ev(2e6 * 70 * 0.90, route="intramuscular").table()
    return Problem(patient.model, patient.params, events, output_times(42.0, 0.5))


@given(
    k=st.integers(1, 12),
    amounts=st.lists(st.floats(1e5, 1e9), min_size=1, max_size=4),
    every=st.floats(0.5, 10.0),
)
@settings(max_examples=60, deadline=None)
def test_split_problem_keeps_each_patients_total_viable_cells_and_route(
    k: int, amounts: list[float], every: float
) -> None:
    # Patient i gets its own amount, route and schedule: i + 1 doses every ``every`` days.
    routes = ("intramuscular", "intravenous", "intra_articular", "intrathecal")
    plans = [
        ev(a, route=routes[i % 4], day=i, every_days=every, count=i + 1).to(i)
        for i, a in enumerate(amounts)
    ]
    events = sum(plans[1:], plans[0]).table(len(amounts))
    problem = Problem(TherapyModel(), {}, events, np.array([0.0, 200.0]))
    split = split_problem(problem, k).events
    assert len(split) == k * len(amounts)
    for i in range(len(amounts)):
        before, after = events.rows_of(i), split.rows_of(i)
        assert {split.route[j] for j in after} == {events.route[j] for j in before}
        total = math.fsum(events.amount_cells[before])
        # k equal doses: their sum is the total up to the rounding of total / k.
        assert math.fsum(split.amount_cells[after]) == pytest.approx(total, rel=4e-16, abs=0)
        assert np.all(split.amount_cells[after] == total / k)
        assert split.time_day[after[0]] == i
        window = every * (i + 1) if i else 28.0
        assert split.time_day[after[-1]] == pytest.approx(i + (k - 1) * window / k, rel=1e-12)


def test_split_problem_refusals_name_the_fields() -> None:
    problem = _problem_in_code()
    with pytest.raises(SpecError, match=r"^split = 0: must be a whole number >= 1"):
        split_problem(problem, 0)
    with pytest.raises(SpecError, match=r"^window_days = -1.0: must be a finite number"):
        split_problem(problem, 2, -1.0)
    with pytest.raises(SpecError, match=r"day 75, after times_day\[-1\] = 42;"):
        split_problem(problem, 4, 100.0)
    with pytest.raises(SpecError, match=r"^dose: the problem has no doses to split"):
        split_problem(replace(problem, events=DoseEvents.from_rows([])), 2)
    with pytest.raises(SpecError, match=r"^dose: patient 1 of the problem has no doses"):
        split_problem(
            Problem(problem.model, problem.params, problem.events, problem.times_day, 2), 2
        )
    mixed = replace(
        problem, events=(ev(1e7, route="intravenous") + ev(1e7, route="intramuscular")).table()
    )
    with pytest.raises(SpecError, match=r"^dose: a split needs every administration"):
        split_problem(mixed, 2)


def test_compare_on_a_problem_built_in_code_equals_compare_on_the_scenario_file() -> None:
    scenario, problem = load_scenario(CLI), _problem_in_code()
    by_file = compare_splits(scenario, (1, 2, 3, 4))
    in_code = compare_splits(problem, (1, 2, 3, 4))
    pd.testing.assert_frame_equal(in_code.table, by_file.table)
    pd.testing.assert_frame_equal(in_code.courses, by_file.courses)
    assert in_code.table.attrs == by_file.table.attrs
    # Problems share an untreated row when they share their model (the same object).
    plan = ev(2e6 * 70 * 0.90, route="intramuscular", every_days=7, count=3)
    weekly = replace(problem, events=plan.table())
    line = Dose(route="intramuscular", cells_per_kg=2e6, day=0, every_days=7, count=3)
    three = scenario.model_copy(update={"dose": (line,)})
    by_file = compare_scenarios([scenario, three], ["one", "three"])
    in_code = compare_scenarios([problem, weekly], ["one", "three"])
    pd.testing.assert_frame_equal(in_code.table, by_file.table)
    pd.testing.assert_frame_equal(in_code.courses, by_file.courses)
    assert in_code.table["regimen"].tolist() == ["one", "three", "untreated"]
    assert in_code.table["n_doses"].tolist() == [1, 3, 0]


def test_problems_share_an_untreated_row_unless_their_untreated_course_differs() -> None:
    problem = _problem_in_code()
    params = dict(problem.params)
    suppressed = replace(problem, params={**params, "immunosuppression": np.array([0.5])})
    heavier = replace(problem, params={**params, "weight_kg": np.array([80.0])})
    table = compare_scenarios([problem, suppressed, heavier], ["a", "b", "c"]).table
    assert table["regimen"].tolist() == ["a", "b", "c", "untreated (a)", "untreated (c)"]


def test_compare_refuses_a_problem_of_several_patients_or_a_second_model() -> None:
    problem = _problem_in_code()
    with pytest.raises(SpecError, match=r"^n_patients = 2: compare simulates one patient"):
        compare_splits(
            Problem(problem.model, problem.params, problem.events, problem.times_day, 2), (1, 2)
        )
    with pytest.raises(SpecError, match=r"^model: a problem has its model"):
        compare_scenarios([problem], model=TherapyModel())


def test_split_doses_of_a_scenario_are_checked_against_the_evidence() -> None:
    # Four doses of 7e7 cells are studied; one of 2.8e8 is beyond the evidence.
    weekly = [{"route": "intramuscular", "cells_per_kg": 1e6, "every_days": 7, "count": 4}]
    scenario = build_scenario(dose=weekly, disease=LIMB)
    assert compare_splits(scenario, (2, 4)).table["n_doses"].tolist() == [2, 4, 0]
    with pytest.raises(SpecError, match=r"^dose\[0\] = 2.8e\+08 cells .*beyond the highest"):
        compare_splits(scenario, (1, 4))
    with pytest.warns(match="beyond the highest"):
        table = compare_splits(scenario, (1,), policy=EvidencePolicy(True)).table
    assert table["n_doses"].tolist() == [1, 0]


def test_a_split_whose_last_infusion_would_end_after_the_horizon_is_refused() -> None:
    events = ev(1e8, route="intravenous", infusion_hours=12).table(1)
    problem = Problem(TherapyModel(), {}, events, np.array([0.0, 10.0]))
    split_problem(problem, 2, window_days=19.0)  # the last ends on day 9.5: fine
    with pytest.raises(SpecError, match=r"^split = 2: the last dose would end on day 10\.5"):
        split_problem(problem, 2, window_days=20.0)
