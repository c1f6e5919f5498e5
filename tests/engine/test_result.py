"""Results are immutable, tidy, and runs too large for memory are refused up front."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import build_scenario

from mscsim import ResolvedDose, Route, SpecError, simulate
from mscsim.engine import solver_named
from mscsim.models import CellKinetics, TherapyModel
from mscsim.population import simulate_scenario


def test_result_arrays_are_read_only() -> None:
    result = simulate_scenario(build_scenario())
    with pytest.raises(ValueError, match="read-only"):
        result.states[0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        result.output("cells_target")[0, 0] = 1.0


def test_to_frame_has_one_row_per_patient_and_time_in_model_order() -> None:
    result = simulate_scenario(build_scenario(), n_patients=3)
    frame = result.to_frame()
    assert len(frame) == 3 * result.times_day.size
    assert list(frame.columns[:2]) == ["patient_id", "time_day"]
    assert list(frame.columns[2:]) == list(TherapyModel().output_names)
    np.testing.assert_array_equal(
        frame.loc[frame.patient_id == 2, "cells_target"], result.output("cells_target")[2]
    )


def test_a_run_too_large_for_memory_is_refused_before_any_work() -> None:
    model = CellKinetics()
    params = {p.name: p.value for p in model.parameters} | {"is_allogeneic": 0.0}
    with pytest.raises(SpecError, match=r"^n_patients = 2000000: .* GiB, more than the 4 GiB"):
        simulate(
            model,
            [ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([1e7]))],
            times_day=np.arange(366.0),
            params=params,
            n_patients=2_000_000,
        )


def test_bad_parameter_shapes_are_refused() -> None:
    model = CellKinetics()
    params = {p.name: p.value for p in model.parameters} | {"is_allogeneic": np.zeros(3)}
    with pytest.raises(SpecError, match=r"params\.is_allogeneic: shape \(3,\) must be \(1,\) or"):
        simulate(model, [], times_day=[0.0, 1.0], params=params, n_patients=2)


@pytest.mark.parametrize("engine", ["fast", "scipy"])
def test_progress_is_reported_in_order_up_to_the_total(engine: str) -> None:
    calls: list[tuple[int, int]] = []
    simulate_scenario(
        build_scenario(),
        n_patients=3,
        solver=solver_named(engine),
        progress=lambda d, t: calls.append((d, t)),
    )
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1] and len(calls) >= 3
