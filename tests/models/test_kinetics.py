"""The kinetics model's right-hand side and its linear part describe the same system."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mscsim.engine.exact import MatrixBatch
from mscsim.evidence import load_library
from mscsim.models import CellKinetics


def sensitised_loss(y: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """Memory's added loss per cell compartment, written out from the equations."""
    ln2 = np.log(2)
    allo = params["is_allogeneic"]
    ki = params["immune_clearance_per_day"] * allo
    kl = ln2 / params["lung_half_life_days"]
    elimination = np.stack(
        [
            (1 - params["lung_release_fraction"]) * kl + ki,
            ki * np.ones_like(kl),
            ln2 / params["liver_spleen_half_life_days"] + ki,
            ln2 / params["target_half_life_days"] + ki,
            ln2 / params["early_loss_half_life_days"] + ki,
        ]
    )
    memory = y[6]
    cells = y[:5].sum(axis=0)
    s = memory / (1 + memory)
    w = ((cells - 1) / cells) ** 2
    loss: np.ndarray = (params["sensitised_clearance_multiplier"] - 1) * s * w * elimination * y[:5]
    return loss


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    site=st.sampled_from(["systemic", "intramuscular", "intralesional"]),
)
def test_rhs_is_the_linear_part_less_overflow_and_sensitised_loss(seed: int, site: str) -> None:
    rng = np.random.default_rng(seed)
    model = CellKinetics()
    n = 7
    lib = load_library()
    params = {
        p.name: lib.get(p.name).default(site).value * np.exp(0.3 * rng.standard_normal(n))
        for p in model.parameters
    }
    params["sensitised_clearance_multiplier"] = rng.uniform(1, 5, n)
    params["is_allogeneic"] = rng.integers(0, 2, n).astype(float)
    params["target_capacity_cells"] = rng.uniform(1e7, 1e8, n)
    y = rng.uniform(0, 1e7, (7, n))
    y[5:] = rng.uniform(0, 3, (2, n))
    a = MatrixBatch.of(model.linear_part(params))
    expected = a.apply(y)
    expected[:5] -= sensitised_loss(y, params)
    np.testing.assert_allclose(model.rhs(0.0, y, params), expected, rtol=1e-12, atol=1e-6)
    above = y.copy()
    above[3] = params["target_capacity_cells"] * 1.5
    overflow = np.log(2) / params["overflow_half_life_days"] * 0.5 * params["target_capacity_cells"]
    expected = a.apply(above)
    expected[:5] -= sensitised_loss(above, params)
    expected[3] -= overflow
    np.testing.assert_allclose(model.rhs(0.0, above, params), expected, rtol=1e-12, atol=1e-6)
    # Without memory the kinetics below capacity are exactly the linear part.
    y[6] = 0.0
    np.testing.assert_allclose(model.rhs(0.0, y, params), a.apply(y), rtol=1e-12, atol=1e-6)
