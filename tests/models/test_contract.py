"""Every built-in model keeps the v2 contract: its remainder reads and writes only what it declares."""

from __future__ import annotations

import numpy as np
import pytest

from mscsim.errors import SpecError
from mscsim.models import (
    Inflammation,
    LimbIschemia,
    Model,
    NoDisease,
    ReferenceDrug,
    SpinocerebellarAtaxia,
    StateIndex,
    TherapyModel,
)
from mscsim.models.base import Array

MODELS = {
    "none": TherapyModel(NoDisease()),
    "sca": TherapyModel(SpinocerebellarAtaxia()),
    "limb_ischemia": TherapyModel(LimbIschemia()),
    "inflammation": TherapyModel(Inflammation()),
    "reference_drug": ReferenceDrug(),
}


def params_of(model: Model, n: int) -> dict[str, Array]:
    params = {p.name: np.full(n, p.value) for p in model.parameters}
    params.update(
        is_allogeneic=np.ones(n),
        potency=np.ones(n),
        sensitised_clearance_multiplier=np.full(n, 3.0),
        target_capacity_cells=np.full(n, 1e6),
    )
    return params


@pytest.mark.parametrize("name", MODELS)
def test_remainder_writes_and_reads_only_its_declared_states(name: str) -> None:
    model = MODELS[name]
    rng = np.random.default_rng(3)
    n = 5
    prepared = model.prepare(params_of(model, n))
    y = rng.uniform(0.5, 3.0, (len(model.states), n)) * 10 ** rng.uniform(
        0, 7, (len(model.states), 1)
    )
    r = model.remainder(0.0, y, prepared)
    index = StateIndex(model.states)
    silent = [s for s in model.states if s not in model.remainder_writes]
    assert np.all(r[index.rows(silent)] == 0.0)
    assert np.any(r != 0.0)
    unread = [s for s in model.states if s not in model.remainder_reads]
    shaken = y.copy()
    shaken[index.rows(unread)] *= 1.7
    np.testing.assert_array_equal(model.remainder(0.0, shaken, prepared), r)


@pytest.mark.parametrize("name", MODELS)
def test_linear_system_shapes_follow_the_contract(name: str) -> None:
    model = MODELS[name]
    a, b = model.linear_system(model.prepare(params_of(model, 4)))
    n_states = len(model.states)
    assert a.shape[1:] == (n_states, n_states) and b.shape[1:] == (n_states,)
    assert a.shape[0] in (1, 4) and b.shape[0] in (1, 4)


def test_state_index_refuses_an_unknown_name() -> None:
    with pytest.raises(SpecError, match="'spleen': not one of lung, blood"):
        StateIndex(("lung", "blood"))["spleen"]
