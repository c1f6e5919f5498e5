"""Properties that hold for any regimen and parameters (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import build_scenario

from mscsim.engine import simulate
from mscsim.problem import prepare_scenario
from mscsim.spec import Dose, Regimen

# These properties are about the physics, so they also range over doses beyond the
# evidence; the warning that says so is expected and ignored.
BEYOND_EVIDENCE = pytest.mark.filterwarnings("ignore::mscsim.errors.MscsimWarning")

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

routes = st.sampled_from(["intravenous", "intra_arterial", "intramuscular", "intrathecal"])
cells = st.floats(1e5, 6e7)
dose_lines = st.lists(
    st.fixed_dictionaries(
        {
            "route": routes,
            "cells": cells,
            "day": st.integers(0, 20),
            "every_days": st.integers(1, 10),
            "count": st.integers(1, 3),
        }
    ),
    min_size=1,
    max_size=3,
)


def single_local_route(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    """One scenario has one local target site: map every local line to the first one's."""
    local = [d["route"] for d in lines if d["route"] in ("intramuscular", "intrathecal")]
    return [
        {**d, "route": local[0]} if d["route"] in ("intramuscular", "intrathecal") else d
        for d in lines
    ]


@BEYOND_EVIDENCE
@FAST
@given(
    lines=dose_lines,
    capacity=st.floats(1e6, 1e9),
    donor=st.sampled_from(["autologous", "allogeneic"]),
)
def test_cell_counts_are_never_negative(
    lines: list[dict[str, object]], capacity: float, donor: str
) -> None:
    scenario = build_scenario(
        product={"source": "bone_marrow", "donor": donor, "viability": 0.9},
        dose=single_local_route(lines),
        simulation={"horizon_days": 60, "output_every_days": 1},
        parameters={"target_capacity_cells": max(capacity, 1e7)},
    )
    inputs = prepare_scenario(scenario, allow_beyond_evidence=True)
    result = simulate(inputs.model, inputs.doses, times_day=inputs.times_day, params=inputs.params)
    assert np.all(result.states >= 0)
    assert np.all(np.isfinite(result.states))


@BEYOND_EVIDENCE
@FAST
@given(
    route=routes,
    small=st.floats(1e5, 5e7),
    factor=st.floats(1.0, 4.0),
    capacity=st.sampled_from([1e7, 3e7, 1e8]),
)
def test_a_larger_single_dose_never_leaves_fewer_surviving_cells(
    route: str, small: float, factor: float, capacity: float
) -> None:
    def course(amount: float) -> np.ndarray:
        scenario = build_scenario(
            dose=[{"route": route, "cells": amount, "day": 0}],
            simulation={"horizon_days": 20, "output_every_days": 0.5},
            parameters={"target_capacity_cells": capacity},
        )
        inputs = prepare_scenario(scenario, allow_beyond_evidence=True)
        r = simulate(inputs.model, inputs.doses, times_day=inputs.times_day, params=inputs.params)
        return r.states

    low, high = course(small), course(small * factor)
    assert np.all(high >= low * (1 - 1e-9) - 1e-6)


@given(lines=dose_lines, weight=st.floats(3, 200))
def test_expanding_a_regimen_preserves_the_total_dose(
    lines: list[dict[str, object]], weight: float
) -> None:
    regimen = Regimen(doses=tuple(Dose.model_validate(d) for d in lines))
    events = regimen.expand()
    assert len(events) == sum(d.count for d in regimen.doses)
    total = sum(e.cells_for(weight) for e in events)
    assert np.isclose(total, regimen.total_cells(weight), rtol=1e-12)
    assert [e.time_day for e in events] == sorted(e.time_day for e in events)


@BEYOND_EVIDENCE
@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 40),
    split=st.integers(1, 39),
    route=routes,
)
def test_chunking_or_reordering_patients_changes_nothing(
    seed: int, n: int, split: int, route: str
) -> None:
    rng = np.random.default_rng(seed)
    scenario = build_scenario(
        dose=[{"route": route, "cells": 1.2e8, "every_days": 5, "count": 2}],
        simulation={"horizon_days": 15, "output_every_days": 0.5},
    )
    inputs = prepare_scenario(scenario, allow_beyond_evidence=True)
    params = dict(inputs.params)
    for name in ("target_half_life_days", "lung_half_life_days", "homing_fraction"):
        params[name] = params[name] * np.exp(0.3 * rng.standard_normal(n))
    params["target_capacity_cells"] = rng.uniform(5e7, 2e8, n)

    def run(idx: np.ndarray) -> np.ndarray:
        p = {k: (v[idx] if v.shape[0] == n else v) for k, v in params.items()}
        r = simulate(
            inputs.model, inputs.doses, times_day=inputs.times_day, params=p, n_patients=idx.size
        )
        return r.states

    whole = run(np.arange(n))
    split = min(split, n - 1)
    chunks = np.concatenate([run(np.arange(split)), run(np.arange(split, n))], axis=1)
    perm = rng.permutation(n)
    shuffled = run(perm)
    np.testing.assert_allclose(chunks, whole, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(shuffled, whole[:, perm], rtol=1e-12, atol=1e-9)
