"""A dose within the event tolerance of an output time: one event, on both engines."""

from __future__ import annotations

import numpy as np
import pytest

from mscsim.analysis.doses import simulate_course
from mscsim.engine import solver_named
from mscsim.engine.events import TIME_TOL_DAY, build_schedule
from mscsim.errors import SpecError
from mscsim.spec.scenario import Scenario


def _scenario(first_day: float) -> Scenario:
    return Scenario.model_validate(
        {
            "patient": {"weight_kg": 65},
            "product": {"source": "bone_marrow", "donor": "autologous"},
            "dose": [
                {
                    "route": "intravenous",
                    "cells": 6e7,
                    "day": first_day,
                    "every_days": 7,
                    "count": 3,
                    "infusion_hours": 1,
                }
            ],
            "simulation": {"horizon_days": 30},
        }
    )


@pytest.mark.parametrize("engine", ["fast", "scipy"])
def test_a_dose_a_hair_after_an_output_time_is_simulated_as_at_that_time(engine: str) -> None:
    course = simulate_course(_scenario(TIME_TOL_DAY), solver_named(engine))
    reference = simulate_course(_scenario(0.0), solver_named(engine))
    assert np.all(np.isfinite(course.result.states))
    doses = course.dose_exposures()
    assert len(doses) == 3
    np.testing.assert_allclose(
        doses["exposure_cell_days"], reference.dose_exposures()["exposure_cell_days"], rtol=1e-6
    )


def test_output_times_closer_than_the_event_tolerance_are_refused() -> None:
    with pytest.raises(SpecError, match=r"^times_day: output times must lie more than 1e-09"):
        build_schedule([], [0.0, TIME_TOL_DAY / 2, 1.0])
