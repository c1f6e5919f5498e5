"""The kinetics' linear system and remainder compose the equations of the class docstring."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mscsim.evidence import load_library
from mscsim.models import CellKinetics, full_rhs


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
    w = ((cells - 1) / cells) ** 4
    delta = params["forms_dsa"] if "forms_dsa" in params else params["dsa_probability"]
    excess = (params["sensitised_clearance_multiplier"] - 1) * delta
    loss: np.ndarray = excess * s * w * elimination * y[:5]
    return loss


def written_out_rhs(y: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """The kinetics' right-hand side written out from the class docstring, for every state."""
    ln2 = np.log(2)
    f, h, r = (
        params["lung_trap_fraction"],
        params["homing_fraction"],
        params["lung_release_fraction"],
    )
    allo = params["is_allogeneic"]
    ki = params["immune_clearance_per_day"] * allo
    kl, kb = ln2 / params["lung_half_life_days"], ln2 / params["blood_half_life_days"]
    kh = ln2 / params["liver_spleen_half_life_days"]
    kt, ke = ln2 / params["target_half_life_days"], ln2 / params["early_loss_half_life_days"]
    ko, leak = ln2 / params["overflow_half_life_days"], params["local_leak_per_day"]
    prime = allo / params["sensitising_exposure_cell_days"]
    kp = ln2 / params["immune_priming_half_life_days"]
    km = ln2 / params["immune_memory_half_life_days"]
    lung, blood, liver, target, early, primed, memory = y
    overflow = ko * np.maximum(target - params["target_capacity_cells"], 0.0)
    out = np.stack(
        [
            f * (1 - h) * kb * blood - (kl + ki) * lung,
            r * kl * lung + leak * target - (kb + ki) * blood,
            (1 - f) * (1 - h) * kb * blood - (kh + ki) * liver,
            h * kb * blood - (kt + leak + ki) * target - overflow,
            -(ke + ki) * early,
            prime * y[:5].sum(axis=0) - kp * primed,
            kp * primed - km * memory,
        ]
    )
    out[:5] -= sensitised_loss(y, params)
    return out


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    site=st.sampled_from(["systemic", "intramuscular", "intralesional"]),
)
def test_composed_rhs_is_the_written_out_kinetics(seed: int, site: str) -> None:
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
    if seed % 2:  # a population's patients, who form donor-specific antibodies or not
        params["forms_dsa"] = rng.integers(0, 2, n).astype(float)
    y = rng.uniform(0, 1e7, (7, n))
    y[5:] = rng.uniform(0, 3, (2, n))
    rhs = full_rhs(model, params)
    np.testing.assert_allclose(rhs(0.0, y), written_out_rhs(y, params), rtol=1e-12, atol=1e-6)
    above = y.copy()
    above[3] = params["target_capacity_cells"] * 1.5
    np.testing.assert_allclose(
        rhs(0.0, above), written_out_rhs(above, params), rtol=1e-12, atol=1e-6
    )
    # Without memory and below capacity the remainder is 0: the kinetics are A y.
    y[6] = 0.0
    prepared = model.prepare(params)
    assert np.all(model.remainder(0.0, y, prepared) == 0.0)
    assert np.all(model.switches(y, prepared) < 0) and np.all(model.activity(y, prepared) < 0)
