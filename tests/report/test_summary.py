"""Summaries computed from simulation tables."""

from __future__ import annotations

import math

import numpy as np
from tests.conftest import FIRST_ORDER, build_scenario

from mscsim.engine import simulate_scenario
from mscsim.report import cell_summary


def test_summary_reports_peak_and_last_day_with_a_cell_of_a_first_order_decay() -> None:
    scenario = build_scenario(
        simulation={"horizon_days": 200, "output_every_days": 1}, parameters=FIRST_ORDER
    )
    summary = cell_summary(simulate_scenario(scenario).to_frame()).loc["cells_target"]
    assert summary["peak_cells"] == 5e7 and summary["peak_day"] == 0
    # 5e7 * 2^(-t/4) >= 1  <=>  t <= 4 log2(5e7) = 102.3 days
    assert summary["last_day_with_a_cell"] == math.floor(4 * math.log2(5e7))
    assert np.isclose(summary["end_cells"], 5e7 * 2 ** (-200 / 4), rtol=1e-9)
