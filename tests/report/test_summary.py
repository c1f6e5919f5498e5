"""Summaries computed from simulation tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from tests.analysis.test_extrema import SCA, reference_lung_peak
from tests.conftest import FIRST_ORDER, build_scenario
from typer.testing import CliRunner

from mscsim.analysis.doses import simulate_course
from mscsim.cli.main import app
from mscsim.io.scenario import load_scenario
from mscsim.population import simulate_scenario
from mscsim.problem import prepare_scenario
from mscsim.report import cell_summary
from mscsim.report.summary import course_cell_summary


def test_summary_reports_peak_and_last_day_with_a_cell_of_a_first_order_decay() -> None:
    scenario = build_scenario(
        simulation={"horizon_days": 200, "output_every_days": 1}, parameters=FIRST_ORDER
    )
    summary = cell_summary(simulate_scenario(scenario).to_frame()).loc["cells_target"]
    assert summary["peak_cells"] == 5e7 and summary["peak_day"] == 0
    # 5e7 * 2^(-t/4) >= 1  <=>  t <= 4 log2(5e7) = 102.3 days
    assert summary["last_day_with_a_cell"] == math.floor(4 * math.log2(5e7))
    assert np.isclose(summary["end_cells"], 5e7 * 2 ** (-200 / 4), rtol=1e-9)


def test_course_summary_gives_the_exact_last_day_with_a_cell_of_a_first_order_decay() -> None:
    scenario = build_scenario(
        simulation={"horizon_days": 200, "output_every_days": 1}, parameters=FIRST_ORDER
    )
    summary = course_cell_summary(simulate_course(scenario)).loc["cells_target"]
    assert summary["peak_cells"] == 5e7 and summary["peak_day"] == 0
    assert math.isclose(summary["last_day_with_a_cell"], 4 * math.log2(5e7), rel_tol=1e-6)


def test_simulate_reports_the_lung_peak_within_hours_of_the_infusion(tmp_path: Path) -> None:
    # The daily output grid shows the lung peak a day late and at half its height.
    inputs = prepare_scenario(load_scenario(SCA))
    t_ref, peak_ref = reference_lung_peak(inputs)
    run = CliRunner().invoke(app, ["simulate", str(SCA), "-o", str(tmp_path / "o.csv"), "--json"])
    assert run.exit_code == 0, run.stderr
    lung = next(c for c in json.loads(run.stdout)["cells"] if c["compartment"] == "lung")
    assert math.isclose(lung["peak_day"], t_ref, rel_tol=1e-6)
    assert math.isclose(lung["peak_cells"], peak_ref, rel_tol=1e-6)
    grid = pd.read_csv(tmp_path / "o.csv")["cells_lung"].max()
    assert grid < 0.6 * peak_ref
