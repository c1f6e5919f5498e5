"""The kinetics model's right-hand side and its linear part describe the same system."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mscsim.engine.exact import MatrixBatch
from mscsim.evidence import load_library
from mscsim.models import CellKinetics


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    site=st.sampled_from(["systemic", "intramuscular", "intralesional"]),
)
def test_rhs_equals_the_linear_part_below_capacity_and_loses_overflow_above(
    seed: int, site: str
) -> None:
    rng = np.random.default_rng(seed)
    model = CellKinetics()
    n = 7
    lib = load_library()
    params = {
        p.name: lib.get(p.name).default(site).value * np.exp(0.3 * rng.standard_normal(n))
        for p in model.parameters
    }
    params["is_allogeneic"] = rng.integers(0, 2, n).astype(float)
    params["target_capacity_cells"] = rng.uniform(1e7, 1e8, n)
    y = rng.uniform(0, 1e7, (5, n))
    linear = MatrixBatch.of(model.linear_part(params)).apply(y)
    np.testing.assert_allclose(model.rhs(0.0, y, params), linear, rtol=1e-12, atol=1e-6)
    above = y.copy()
    above[3] = params["target_capacity_cells"] * 1.5
    overflow = np.log(2) / params["overflow_half_life_days"] * 0.5 * params["target_capacity_cells"]
    expected = MatrixBatch.of(model.linear_part(params)).apply(above)
    expected[3] -= overflow
    np.testing.assert_allclose(model.rhs(0.0, above, params), expected, rtol=1e-12, atol=1e-6)
