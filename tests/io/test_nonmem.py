"""NONMEM-style datasets: read into a problem, written back, malformed ones refused in one line."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mscsim.errors import MscsimWarning, SpecError
from mscsim.evidence.library import ParameterLibrary
from mscsim.io import load_scenario
from mscsim.io.nonmem import read_nonmem, write_nonmem, write_nonmem_file
from mscsim.population.build import problem_from_population
from mscsim.problem import Observations, ev, problem_from_scenario, solve
from mscsim.spec.scenario import Scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEADER = "ID,TIME,AMT,CMT,EVID,MDV,DV,II,ADDL,RATE,SS,DVID,BLQ,LLOQ,WT,SEX"
# Two patients: an IV infusion repeated every 30 days, a local injection; a BLQ row,
# an observation to skip (MDV = 1), an output time only (EVID = 2).
DATA = f"""{HEADER}
1,0,7e7,intravenous,1,1,.,30,2,1.4e9,0,.,.,.,60,F
1,1,.,.,0,0,5e6,.,.,.,.,cells_target,0,100,60,F
1,7,.,.,0,0,.,.,.,.,.,cells_target,1,100,60,F
1,8,.,.,0,1,3,.,.,.,.,cells_target,0,100,60,F
2,0,5e7,intramuscular,1,1,.,.,.,0,0,.,.,.,80,M
2,2,.,.,0,0,2.5,.,.,.,.,sara_score,0,.,80,M
2,3,.,.,2,1,.,.,.,.,.,.,.,.,80,M
"""


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(EXAMPLES / "sca_uc_msc_iv.toml")


def test_a_dataset_gives_each_id_its_doses_observations_and_covariates(
    scenario: Scenario,
) -> None:
    data = read_nonmem(DATA, scenario)
    problem = data.problem
    viability = problem.product.viability
    assert data.ids.tolist() == [1, 2]
    infusion = ev(
        7e7 * viability,
        route="intravenous",
        every_days=30,
        count=3,
        infusion_hours=24 * 7e7 / 1.4e9,
    ).table()
    assert problem.events.rows_of(0).size == 3  # ADDL = 2: three doses
    np.testing.assert_array_equal(problem.events.time_day[:3], infusion.time_day)
    np.testing.assert_allclose(problem.events.duration_day[:3], infusion.duration_day, rtol=1e-12)
    assert problem.events.amount_cells.tolist() == [7e7 * viability] * 3 + [5e7 * viability]
    assert problem.times_day.tolist() == [0.0, 1.0, 2.0, 3.0, 7.0, 60.0]  # to the last dose
    assert problem.params["weight_kg"].tolist() == [60.0, 80.0]
    obs = data.observations
    assert obs.patient.tolist() == [0, 0, 1]
    assert obs.output == ("cells_target", "cells_target", "sara_score")
    assert obs.blq.tolist() == [False, True, False]
    np.testing.assert_array_equal(obs.value, [5e6, np.nan, 2.5])
    np.testing.assert_array_equal(obs.lloq, [100.0, 100.0, np.nan])
    assert data.covariates["SEX"].tolist() == ["F", "M"]


def test_each_patient_gets_the_defaults_of_its_own_target_site(scenario: Scenario) -> None:
    problem = read_nonmem(DATA, scenario).problem
    library = ParameterLibrary(problem.model.parameters)
    values = [
        library.resolve(["target_half_life_days"], site=site)["target_half_life_days"]
        for site in ("systemic", "intramuscular")
    ]
    assert values[0] != values[1]
    assert problem.params["target_half_life_days"].tolist() == values


def test_written_and_read_back_a_dataset_gives_the_same_problem(scenario: Scenario) -> None:
    data = read_nonmem(DATA, scenario)
    text = write_nonmem(data.problem, data.observations, data.covariates)
    again = read_nonmem(text, scenario, model=data.problem.model)
    assert again.problem == data.problem
    assert again.observations == data.observations
    assert again.covariates["SEX"].tolist() == ["F", "M"]
    assert write_nonmem(again.problem, again.observations, again.covariates) == text


def test_a_sampled_population_survives_the_round_trip() -> None:
    scenario = load_scenario(EXAMPLES / "sca_trial_arm.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MscsimWarning)
        problem = problem_from_population(scenario, 6)
        problem = problem.with_times([0.0, 30.0, 90.0, problem.events.time_day.max()])
        result = solve(problem)
        times = np.repeat([[30.0, 90.0]], 6, axis=0).ravel()
        patients = np.repeat(np.arange(6), 2)
        values = result.outputs["sara_score"][:, 1:3].ravel()
        obs = Observations.of(patients, times, "sara_score", values)
        again = read_nonmem(write_nonmem(problem, obs), scenario, model=problem.model)
    # Per-kg doses times each lot's viability need not be any AMT x viability: the
    # amounts come back to the last bit or within one unit in the last place.
    events, back = problem.events, again.problem.events
    np.testing.assert_allclose(back.amount_cells, events.amount_cells, rtol=4e-16, atol=0)
    assert back.route == events.route
    for column in ("patient", "time_day", "duration_day"):
        np.testing.assert_array_equal(getattr(back, column), getattr(events, column))
    assert again.problem == replace(problem, events=back)  # all else to the last bit
    assert again.observations == obs
    assert problem.events.amount_cells.std() > 0  # the patients' doses differ


def test_without_observations_the_output_times_are_the_scenario_grid(scenario: Scenario) -> None:
    problem = read_nonmem(f"{HEADER}\n5,0,1e8,intravenous,1,1,.,.,.,.,.,.,.,.,70,F\n", scenario)
    assert problem.problem.times_day.tolist() == problem_from_scenario(scenario).times_day.tolist()
    assert len(problem.observations) == 0


def test_without_a_blq_column_a_value_below_lloq_is_censored(scenario: Scenario) -> None:
    text = "ID,TIME,AMT,CMT,EVID,DV,DVID,LLOQ\n1,0,1e8,intravenous,1,.,.,.\n"
    text += "1,1,.,.,0,50,cells_target,100\n1,2,.,.,0,500,cells_target,100\n"
    obs = read_nonmem(text, scenario).observations
    assert obs.blq.tolist() == [True, False]
    np.testing.assert_array_equal(obs.value, [np.nan, 500.0])


def test_the_observations_line_up_with_a_simulation_of_the_problem(scenario: Scenario) -> None:
    data = read_nonmem(DATA, scenario)
    predicted = data.observations.predicted(data.problem.times_day, solve(data.problem).outputs)
    assert predicted.shape == (3,)
    assert np.all(np.isfinite(predicted)) and predicted[0] > 0


def test_a_dataset_file_is_written_atomically_and_read_with_a_bom(
    scenario: Scenario, tmp_path: Path
) -> None:
    data = read_nonmem(DATA, scenario)
    path = write_nonmem_file(tmp_path / "d" / "data.csv", data.problem, data.observations)
    assert [p.name for p in path.parent.iterdir()] == ["data.csv"]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    again = read_nonmem(bom, scenario, model=data.problem.model)
    assert again.problem.events == data.problem.events
    assert again.observations == data.observations


def _with(row: int, column: str, value: str) -> str:
    """DATA with one cell replaced (row 1 is the first data line)."""
    lines = DATA.splitlines()
    names = lines[0].split(",")
    cells = lines[row].split(",")
    cells[names.index(column)] = value
    lines[row] = ",".join(cells)
    return "\n".join(lines) + "\n"


ROUTES = "intravenous, intra_arterial, intramuscular, intra_articular, intrathecal, intralesional"
MALFORMED = {
    "unsorted time": (
        _with(3, "TIME", "0.5"),
        "row 3, TIME = '0.5': times must not decrease within ID 1 (an earlier row has 1)",
    ),
    "amount on an observation": (
        _with(2, "AMT", "1e6"),
        "row 2, AMT = '1e6': an observation row (EVID = 0) gives no dose: use '.' or 0",
    ),
    "unknown route": (
        _with(1, "CMT", "iv"),
        f"row 1, CMT = 'iv': a dose row names its route: one of {ROUTES}",
    ),
    "missing column": (
        DATA.replace(",AMT,", ",DOSE,", 1),
        f"header = '{HEADER.replace(',AMT,', ',DOSE,')}': missing AMT; a dataset has "
        "ID, TIME, AMT, CMT, EVID (and DV, DVID with observations)",
    ),
    "missing DVID column": (
        "ID,TIME,AMT,CMT,EVID,DV\n1,0,.,.,0,5\n",
        "header = 'ID,TIME,AMT,CMT,EVID,DV': missing DVID; a dataset with observations "
        "(EVID = 0) has DV and DVID",
    ),
    "text for a number": (
        _with(1, "AMT", "lots"),
        "row 1, AMT = 'lots': must be a number, or '.' when missing",
    ),
    "negative amount": (_with(1, "AMT", "-5"), "row 1, AMT = '-5': must be >= 0 cells"),
    "negative time": (_with(1, "TIME", "-1"), "row 1, TIME = '-1': must be >= 0 days"),
    "no DVID on an observation": (
        _with(2, "DVID", "."),
        "row 2, DVID = '.': an observation row names the model output observed: one of "
        "cells_lung, cells_blood, cells_liver_spleen, cells_target, cells_total, "
        "sensitisation, factor, effect, exposure_cell_days, total_exposure_cell_days, "
        "sara_score",
    ),
    "unknown DVID": (
        _with(2, "DVID", "cells_brain"),
        "row 2, DVID = 'cells_brain': an observation row names the model output observed: "
        "one of cells_lung, cells_blood, cells_liver_spleen, cells_target, cells_total, "
        "sensitisation, factor, effect, exposure_cell_days, total_exposure_cell_days, "
        "sara_score",
    ),
    "covariate changing": (
        _with(3, "WT", "61"),
        "row 3, WT = '61': a covariate is constant within an ID; ID 1 has '60' at row 1",
    ),
    "ADDL without II": (
        _with(1, "II", "."),
        "row 1, II = '.': ADDL = 2 needs II > 0 (days between doses)",
    ),
    "duplicate header": (
        DATA.replace(",SEX", ",TIME", 1),
        "header column 16 = 'TIME': given twice (also column 2); name each column once",
    ),
    "empty file": (
        "",
        "dataset: the file is empty; it needs a header line "
        "(ID,TIME,AMT,CMT,EVID,MDV,DV,II,ADDL,RATE,SS,DVID) and one row per record",
    ),
    "header only": (
        HEADER + "\n",
        "dataset: the header has no data rows; give one row per record",
    ),
    "reset event": (
        _with(7, "EVID", "3"),
        "row 7, EVID = '3': must be 0 (observation), 1 (dose) or 2 (output time); "
        "resets (3, 4) are not supported",
    ),
    "steady state": (
        _with(1, "SS", "1"),
        "row 1, SS = '1': steady state is not supported (cells do not reach a drug's "
        "steady state); give 0 or '.', and the doses with ADDL and II",
    ),
    "modelled rate": (
        _with(1, "RATE", "-2"),
        "row 1, RATE = '-2': must be an infusion rate in cells/day, or 0 for a bolus "
        "(modelled rates and durations, -1 and -2, are not supported)",
    ),
    "short row": (
        DATA.replace("1,1,.,.,0,0,5e6,", "1,1,.,0,0,5e6,", 1),
        "row 2 = 15 values: the header has 16 columns",
    ),
    "ID coming back": (
        DATA + "1,9,.,.,0,0,4,.,.,.,.,cells_target,0,100,60,F\n",
        "row 8, ID = '1': the rows of an ID stand together; ID 1 began at row 1 and "
        "another ID came between",
    ),
    "two local routes": (
        DATA + "2,4,1e6,intrathecal,1,1,.,.,.,.,.,.,.,.,80,M\n",
        "row 8, CMT = 'intrathecal': one patient has one target site; ID 2 has "
        "intramuscular at row 5 (intravenous and intra_arterial may be combined with one "
        "local route)",
    ),
    "value missing": (
        _with(2, "DV", "."),
        "row 2, DV = '.': an observation (EVID = 0, MDV = 0) needs a value; mark one below "
        "the limit with BLQ = 1 and LLOQ",
    ),
    "BLQ without its limit": (
        _with(3, "LLOQ", "."),
        "row 3, LLOQ = '.': a value below the limit (BLQ = 1) needs the limit",
    ),
    "impossible weight": (
        DATA.replace(",60,F", ",0,F"),
        "row 1, WT = '0': must be from 0.005 to 400",
    ),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_dataset_is_refused_in_one_line(scenario: Scenario, case: str) -> None:
    text, message = MALFORMED[case]
    with pytest.raises(SpecError) as err:
        read_nonmem(text, scenario)
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_a_missing_file_is_named(scenario: Scenario, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^dataset = '.*nope\.csv': no such file$"):
        read_nonmem(tmp_path / "nope.csv", scenario)


def test_amounts_and_rates_come_back_to_the_last_bit(scenario: Scenario) -> None:
    # AMT / viability x viability and AMT / (AMT / duration) are not always exact
    # in floating point: the writer picks the neighbour that reads back exactly.
    model = read_nonmem(DATA, scenario).problem.model
    for amount in np.linspace(1e7, 3e8, 200):
        data = read_nonmem(DATA.replace("7e7", repr(float(amount))), scenario, model=model)
        text = write_nonmem(data.problem, data.observations, data.covariates)
        assert read_nonmem(text, scenario, model=model).problem == data.problem
