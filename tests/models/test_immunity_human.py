"""Immunity as the human evidence says: who is sensitised (R42), and IBMIR of intravascular cells.

Sensitisation: only the allogeneic recipients who form donor-specific antibodies
(``forms_dsa``, drawn with probability ``dsa_probability``) clear later doses
faster; a single scenario weighs memory by the probability. IBMIR: intravenous and
intra-arterial doses lose a dose-dependent share at once (R76).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from tests.conftest import build_scenario

from mscsim.analysis import simulate_course
from mscsim.evidence import load_library
from mscsim.models import CellKinetics
from mscsim.models.immunity import DSA_COVARIATE, ibmir_loss
from mscsim.population import deviates, problem_from_population, simulate_scenario
from mscsim.problem import solve

P_DSA = load_library().get("dsa_probability").value
MAX_LOSS = load_library().get("ibmir_max_loss").value
HALF_DOSE = load_library().get("ibmir_half_dose_cells_per_kg").value


def expected_loss(cells: np.ndarray, weight_kg: np.ndarray) -> np.ndarray:
    """The IBMIR share lost, written out from the library's defaults (product factor 1)."""
    per_kg = cells / weight_kg
    out: np.ndarray = MAX_LOSS * per_kg / (per_kg + HALF_DOSE)
    return out


def repeated_iv(donor: str, population: dict[str, Any] | None = None) -> Any:
    return build_scenario(
        patient={"weight_kg": 70},
        product={"source": "bone_marrow", "donor": donor, "viability": 1.0},
        dose=[{"route": "intravenous", "cells": 1e8, "every_days": 21, "count": 3}],
        simulation={"horizon_days": 63, "output_every_days": 3},
        population=population,
    )


# --- who is sensitised --------------------------------------------------------------


@pytest.mark.parametrize("donor", ["allogeneic", "autologous"])
def test_sensitisation_occurs_in_the_stated_share_of_a_population(donor: str) -> None:
    n = 2000
    problem = problem_from_population(repeated_iv(donor, {"seed": 5}), n_patients=n)
    forms = problem.params[DSA_COVARIATE]
    result = solve(problem)
    sensitised = result.output("sensitisation").max(axis=1) > 0
    if donor == "autologous":
        assert not forms.any() and not sensitised.any()
        return
    se = math.sqrt(P_DSA * (1 - P_DSA) / n)
    assert abs(forms.mean() - P_DSA) < 4 * se
    # Memory-driven clearance acts in exactly the patients who form antibodies.
    np.testing.assert_array_equal(sensitised, forms == 1.0)
    # They keep fewer cells of the later doses than those who do not (other
    # parameters vary between patients, so compare the groups' medians).
    total = result.output("cells_total")[:, -1]
    assert np.median(total[forms == 1]) < 0.5 * np.median(total[forms == 0])


def test_who_is_sensitised_does_not_depend_on_the_batch() -> None:
    scenario = repeated_iv("allogeneic", {"seed": 5})
    ids = np.arange(300, dtype=np.int64)
    whole = problem_from_population(scenario, patient_ids=ids).params[DSA_COVARIATE]
    part = problem_from_population(scenario, patient_ids=ids[[250, 3, 77]])
    np.testing.assert_array_equal(part.params[DSA_COVARIATE], whole[[250, 3, 77]])


def test_the_dsa_draw_is_appended_so_earlier_draws_keep_their_values() -> None:
    ids = np.arange(50, dtype=np.int64)
    for slots in (7, 9):
        np.testing.assert_array_equal(
            deviates(5, ids, slots + 1)[:, :slots], deviates(5, ids, slots)
        )


def test_a_single_scenario_clears_with_the_expected_excess() -> None:
    model = CellKinetics()
    params = {p.name: np.array([p.value]) for p in model.parameters}
    params["is_allogeneic"] = np.array([1.0])
    rng = np.random.default_rng(2)
    y = rng.uniform(1e5, 1e7, (7, 4))
    y[5:] = rng.uniform(0.1, 3.0, (2, 4))
    expected = model.remainder(0.0, y, model.prepare(params))
    sensitised = model.remainder(0.0, y, model.prepare({**params, "forms_dsa": np.ones(1)}))
    assert np.all(sensitised[:5] < 0)
    np.testing.assert_allclose(expected, P_DSA * sensitised, rtol=1e-12)
    spared = model.prepare({**params, "forms_dsa": np.zeros(1)})
    assert np.all(model.remainder(0.0, y, spared) == 0.0)
    assert np.all(model.activity(y, spared) < 0)


# --- IBMIR ----------------------------------------------------------------------------


def first_cells(route: str, cells: float, **sections: Any) -> float:
    """Viable cells in the body at the dose instant (just after the dose)."""
    scenario = build_scenario(
        product={"source": "bone_marrow", "donor": "autologous", "viability": 1.0},
        dose=[{"route": route, "cells": cells}],
        simulation={"horizon_days": 1, "output_every_days": 0.5},
        **sections,
    )
    return float(simulate_scenario(scenario).output("cells_total")[0, 0])


def test_the_ibmir_loss_grows_with_the_dose_and_matches_its_formula() -> None:
    doses = np.array([1e7, 7e7, 3e8, 7e8])
    kept = np.array([first_cells("intravenous", d) for d in doses]) / doses
    assert np.all(np.diff(kept) < 0)
    np.testing.assert_allclose(kept, 1 - expected_loss(doses, np.full(4, 70.0)), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:.*no human dose evidence:mscsim.errors.MscsimWarning")
def test_intra_arterial_doses_meet_ibmir_too() -> None:
    kept = first_cells("intra_arterial", 7e7) / 7e7
    assert kept == pytest.approx(1 - expected_loss(np.array(7e7), np.array(70.0)), rel=1e-12)


@pytest.mark.parametrize("route", ["intramuscular", "intra_articular", "intrathecal"])
def test_local_routes_lose_nothing_to_ibmir(route: str) -> None:
    assert first_cells(route, 2e7) == pytest.approx(2e7, rel=1e-12)


def test_no_ibmir_when_its_maximum_is_zero() -> None:
    cells = first_cells("intravenous", 1e8, parameters={"ibmir_max_loss": 0.0})
    assert cells == pytest.approx(1e8, rel=1e-12)


def test_each_patient_of_a_population_loses_the_share_of_its_own_dose() -> None:
    scenario = build_scenario(
        product={"source": "bone_marrow", "donor": "allogeneic"},
        dose=[{"route": "intravenous", "cells": 2e8}],
        simulation={"horizon_days": 1, "output_every_days": 0.5},
        population={"seed": 3, "weight_kg": {"dist": "lognormal", "median": 60, "cv": 0.4}},
    )
    problem = problem_from_population(scenario, n_patients=40)
    amounts = problem.events.amount_cells  # one dose per patient, in patient order
    weights = problem.params["weight_kg"]
    lost = expected_loss(amounts, weights)
    assert np.ptp(lost) > 0.01  # patients differ
    first = solve(problem).output("cells_total")[:, 0]
    np.testing.assert_allclose(first, (1 - lost) * amounts, rtol=1e-12)


def test_the_loss_scales_with_the_product_factor_and_never_exceeds_the_dose() -> None:
    params = {
        "ibmir_max_loss": np.array([0.6]),
        "ibmir_half_dose_cells_per_kg": np.array([1e6]),
        "weight_kg": np.array([70.0]),
    }
    cells = np.array([7e7])
    once = ibmir_loss("intravenous", cells, params)
    twice = ibmir_loss("intravenous", cells, {**params, "ibmir_factor": np.array([2.0])})
    assert twice == pytest.approx(2 * once)
    huge = ibmir_loss("intravenous", cells, {**params, "ibmir_factor": np.array([100.0])})
    assert huge == pytest.approx(1.0)


def test_the_exact_peak_of_an_iv_course_is_the_dose_less_its_ibmir_share() -> None:
    scenario = build_scenario(
        product={"source": "bone_marrow", "donor": "autologous", "viability": 1.0},
        dose=[{"route": "intravenous", "cells": 3e8, "infusion_hours": 2}],
        simulation={"horizon_days": 3, "output_every_days": 0.25},
    )
    course = simulate_course(scenario)
    peak = course.extrema(["cells_total"])["peak"].iloc[0]
    kept = 1 - expected_loss(np.array(3e8), np.array(70.0))
    # Cells die during the 2-hour infusion, so the peak is a little below the kept dose.
    assert 0.95 * kept * 3e8 < peak < kept * 3e8


@pytest.mark.parametrize("forms", [True, False])
def test_a_patient_known_to_form_dsa_is_simulated_as_such_alone_and_in_a_population(
    forms: bool,
) -> None:
    def scenario(population: dict[str, Any] | None) -> Any:
        base = repeated_iv("allogeneic", population)
        return base.model_copy(
            update={"patient": base.patient.model_copy(update={"forms_dsa": forms})}
        )

    alone = simulate_course(scenario(None)).result.output("sensitisation").max()
    unknown = simulate_course(repeated_iv("allogeneic")).result.output("sensitisation").max()
    if forms:  # fully weighted, not by the probability (memory itself differs a little)
        assert alone > 4 * unknown > 0
    else:
        assert alone == 0.0
    problem = problem_from_population(scenario({"seed": 5}), n_patients=50)
    assert np.all(problem.params[DSA_COVARIATE] == float(forms))
