"""The compiled kernels of the therapy model agree with its NumPy remainder, switches, activity.

Every built-in disease (SCA of each genotype), autologous and allogeneic donors
(a single scenario weighted by ``dsa_probability``, and a population whose
patients do or do not form donor-specific antibodies), finite and infinite
retention capacity; library defaults varied per patient; states drawn around
every floor (cells 0, 1, 2; memory 0, below, at and above its floor; factor
around the effect floor) and far above.
"""

from __future__ import annotations

import numpy as np
import pytest

from mscsim.engine.compiled import KERNEL_SIGNATURE
from mscsim.engine.driven import driven_structure
from mscsim.engine.events import ResolvedDose, build_schedule
from mscsim.engine.fast import integrate_fast
from mscsim.models import (
    DISEASES,
    CellKinetics,
    Inflammation,
    LimbIschemia,
    NoDisease,
    OrganKinetics,
    SpinocerebellarAtaxia,
    TherapyModel,
)
from mscsim.models import kernels as kernels_module
from mscsim.models.base import Array, Params
from mscsim.models.diseases import Disease
from mscsim.models.immunity import CELL_FLOOR, MEMORY_FLOOR
from mscsim.models.kernel_layout import kernel_parameters
from mscsim.models.kernels import remainder_kernel, switch_kernel
from mscsim.spec.disease import Genotype
from mscsim.spec.route import Route

DISEASE_CASES: dict[str, Disease] = {
    "none": NoDisease(),
    **{f"sca_{g.value}": SpinocerebellarAtaxia(g, 14.0) for g in Genotype},
    "inflammation": Inflammation(),
    "limb_ischemia": LimbIschemia(),
}
COVERED = {"none", "sca", "inflammation", "limb_ischemia"}

# (is_allogeneic, forms_dsa: None for a single scenario, else a per-patient 0/1 draw)
IMMUNITY = {
    "autologous": (0.0, False),
    "allogeneic_single_scenario": (1.0, False),
    "allogeneic_forms_dsa": (1.0, True),
}
CAPACITY = {"infinite": False, "finite": True}

# Typical range of each disease state: SARA points, perfusion ratio, index.
DISEASE_SCALE = {
    "sara_underlying": 40.0,
    "sara_improvement": 4.0,
    "perfusion": 1.5,
    "inflammation": 2.0,
}
VARIED_SUFFIXES = ("_days", "_per_day", "_ng", "_per_year", "_points", "_cells_per_kg")


def patient_params(
    model: TherapyModel,
    rng: np.random.Generator,
    n: int,
    allogeneic: float,
    dsa: bool,
    finite: bool,
) -> dict[str, Array]:
    """Library defaults, half of them varied per patient (others shared, shape (1,))."""
    params = {p.name: np.array([p.value]) for p in model.parameters}
    for name, value in list(params.items()):
        if name.endswith(VARIED_SUFFIXES) and np.isfinite(value[0]) and rng.random() < 0.5:
            params[name] = value * rng.lognormal(0.0, 0.4, n)
    params.update(
        is_allogeneic=np.array([allogeneic]),
        potency=rng.uniform(0.5, 2.0, n),
        hla_match=rng.uniform(0.0, 1.0, n),
        immunogenicity=rng.uniform(0.5, 1.5, n),
        cell_survival=rng.uniform(0.5, 1.5, n),
        immunosuppression=rng.choice([0.0, 0.5, 1.0], n),
        # Multipliers at and below 1: some patients are never sensitised.
        sensitised_clearance_multiplier=rng.choice([0.8, 1.0, 1.5, 2.0, 4.0], n),
        effect_hill=rng.choice([0.5, 1.0, 2.0, 2.7], n),
        effect_emax=rng.uniform(0.2, 1.0, n),
    )
    if dsa:
        params["forms_dsa"] = rng.choice([0.0, 1.0], n)
    capacity = 10.0 ** rng.uniform(0.0, 8.0, n) if finite else np.array([np.inf])
    params["target_capacity_cells"] = capacity
    return params


def random_states(model: TherapyModel, prepared: Params, rng: np.random.Generator, n: int) -> Array:
    """States around every floor and far above, one patient per column."""
    y = rng.uniform(0.0, 1e6, (len(model.states), n))
    i = model.index
    for row in range(5):
        choices = np.stack(
            [np.zeros(n), np.ones(n), np.full(n, 2.0), 10.0 ** rng.uniform(-3.0, 9.0, n)]
        )
        y[row] = choices[rng.integers(0, 4, n), np.arange(n)]
    memory = [0.0, 1e-7, MEMORY_FLOOR, 1.5e-6, 2 * MEMORY_FLOOR, 1.0]
    y[i["immune_memory"]] = np.where(
        rng.random(n) < 0.6, rng.choice(memory, n), 10.0 ** rng.uniform(-8.0, 2.0, n)
    )
    floor = np.broadcast_to(
        prepared.get("effect_floor_ng", np.array([0.24e-6])), (n,)
    )  # NoDisease: no floor, any small factor
    factor = floor * rng.choice([0.0, 0.5, 1.0, 1.2, 1.5, 2.0, 2.000001, 3.0], n)
    y[i["factor"]] = np.where(rng.random(n) < 0.6, factor, 10.0 ** rng.uniform(-9.0, 4.0, n))
    for state in model.disease.states:
        y[i[state]] = rng.uniform(0.0, DISEASE_SCALE[state], n)
    return y


def kernel_rows(model: TherapyModel, prepared: Params, n: int) -> Array:
    """The ``p`` argument: the kernel's parameters broadcast to ``n`` columns."""
    cols = [np.broadcast_to(prepared[k], (n,)) for k in model.remainder_kernel_parameters]
    return np.ascontiguousarray(np.stack(cols), dtype=np.float64)


def case(
    disease: str, immunity: str, capacity: str, seed: int, n: int
) -> tuple[TherapyModel, Params, Array, Array, Array]:
    """A model, its prepared parameters, times, states and the kernel parameters."""
    rng = np.random.default_rng(seed)
    model = TherapyModel(DISEASE_CASES[disease])
    allogeneic, dsa = IMMUNITY[immunity]
    params = patient_params(model, rng, n, allogeneic, dsa, CAPACITY[capacity])
    prepared = model.prepare(params)
    y = random_states(model, prepared, rng, n)
    t = rng.uniform(0.0, 400.0, n)
    return model, prepared, t, y, kernel_rows(model, prepared, n)


CASES = [
    pytest.param(d, im, cap, id=f"{d}-{im}-{cap}")
    for d in DISEASE_CASES
    for im in IMMUNITY
    for cap in CAPACITY
]


@pytest.mark.parametrize(("disease", "immunity", "capacity"), CASES)
@pytest.mark.parametrize("n", [1, 257])
def test_remainder_kernel_equals_the_numpy_remainder_on_every_row_it_writes(
    disease: str, immunity: str, capacity: str, n: int
) -> None:
    for seed in range(3):
        model, prepared, t, y, p = case(disease, immunity, capacity, seed, n)
        writes = model.index.rows(model.remainder_writes)
        expected = model.remainder(t, y, prepared)
        out = np.zeros_like(y)
        model.remainder_kernel(t, y, p, out)
        np.testing.assert_allclose(out[writes], expected[writes], rtol=1e-12, atol=1e-300)
        assert np.array_equal(out, out)  # no NaN anywhere


@pytest.mark.parametrize(("disease", "immunity", "capacity"), CASES)
@pytest.mark.parametrize("n", [1, 257])
def test_switch_kernel_equals_the_numpy_switches_then_activity(
    disease: str, immunity: str, capacity: str, n: int
) -> None:
    for seed in range(3):
        model, prepared, t, y, p = case(disease, immunity, capacity, seed, n)
        expected = np.concatenate([model.switches(y, prepared), model.activity(y, prepared)])
        out = np.full_like(expected, np.nan)
        model.switch_kernel(t, y, p, out)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-300)


def test_the_random_states_reach_every_regime() -> None:
    """The draws above cross every floor: sensitised or not, above capacity or not, effect or not."""
    seen = {"sensitised": 0, "floor_memory": 0, "over": 0, "under": 0, "effect": 0, "no_effect": 0}
    for seed in range(3):
        model, prepared, _, y, _ = case(
            "limb_ischemia", "allogeneic_forms_dsa", "finite", seed, 257
        )
        activity = model.activity(y, prepared)[0]
        switches = model.switches(y, prepared)
        memory = y[model.index["immune_memory"]]
        seen["sensitised"] += int(np.sum(activity > 0))
        seen["floor_memory"] += int(np.sum((memory > MEMORY_FLOOR) & (memory < 2 * MEMORY_FLOOR)))
        seen["over"] += int(np.sum(switches[0] > 0))
        seen["under"] += int(np.sum(switches[0] < 0))
        seen["effect"] += int(np.sum(switches[1] > 0))
        seen["no_effect"] += int(np.sum(switches[1] <= 0))
    assert min(seen.values()) > 10, seen


@pytest.mark.parametrize("disease", ["none", "sca_SCA3", "limb_ischemia"])
def test_kernels_read_no_state_outside_remainder_reads(disease: str) -> None:
    model, _, t, y, p = case(disease, "allogeneic_forms_dsa", "finite", 7, 65)
    unread = [i for i, s in enumerate(model.states) if s not in model.remainder_reads]
    # The switches and the activity read only remainder_reads too.
    assert set(unread) >= {model.index["immune_primed"], model.index["exposure"]}
    blind = y.copy()
    blind[unread] = np.nan
    n_switches = 2 + bool(model.disease.states)
    for kernel, rows in ((remainder_kernel, len(model.states)), (switch_kernel, n_switches)):
        seeing, masked = np.zeros((rows, y.shape[1])), np.zeros((rows, y.shape[1]))
        kernel(t, y, p, seeing)
        kernel(t, blind, p, masked)
        np.testing.assert_array_equal(masked, seeing)


@pytest.mark.parametrize("disease", ["none", "sca_pooled", "inflammation"])
def test_remainder_kernel_leaves_rows_it_does_not_write_untouched(disease: str) -> None:
    model, _, t, y, p = case(disease, "allogeneic_single_scenario", "finite", 11, 130)
    out = np.full_like(y, -12345.25)
    model.remainder_kernel(t, y, p, out)
    written = np.isin(np.array(model.states), model.remainder_writes)
    assert np.all(out[~written] == -12345.25)
    assert not np.any(out[written] == -12345.25)


def test_the_kernels_have_the_engine_signature_and_are_compiled_eagerly() -> None:
    assert kernels_module.KERNEL_SIGNATURE == KERNEL_SIGNATURE
    for kernel in (remainder_kernel, switch_kernel):
        assert kernel.signatures == [KERNEL_SIGNATURE.args]


@pytest.mark.parametrize("disease", list(DISEASE_CASES))
def test_the_kernel_parameters_are_prepared_one_value_per_patient(disease: str) -> None:
    rng = np.random.default_rng(5)
    model = TherapyModel(DISEASE_CASES[disease])
    params = patient_params(model, rng, 9, 1.0, True, True)
    prepared = model.prepare(params)
    d = len(model.disease.states)
    assert model.remainder_kernel_parameters == kernel_parameters(d)
    assert len(model.remainder_kernel_parameters) == (9 if d == 0 else 13 + d * (d + 1))
    for name in model.remainder_kernel_parameters:
        assert np.shape(prepared[name]) in {(1,), (9,)}, name
    # The existing prepared entries are unchanged.
    plain = TherapyModel(DISEASE_CASES[disease], CellKinetics())
    plain.remainder_kernel_parameters = ()
    before = plain.prepare(params)
    assert set(before) <= set(prepared)
    for name, value in before.items():
        np.testing.assert_array_equal(prepared[name], value)
    assert prepared["kinetics_elimination_per_day"].shape == (9, 5)


def test_every_built_in_disease_is_covered() -> None:
    built_in = {k for k, d in DISEASES.items() if d.__module__.startswith("mscsim.")}
    assert built_in == COVERED


def test_an_organ_kinetics_therapy_model_has_no_kernels() -> None:
    model = TherapyModel(LimbIschemia(), OrganKinetics())
    assert model.remainder_kernel is None
    assert model.switch_kernel is None
    assert model.remainder_kernel_parameters == ()
    params = {p.name: np.array([p.value]) for p in model.parameters}
    params.update(is_allogeneic=np.array([1.0]), potency=np.array([1.0]))
    assert "kinetics_sensitisable" not in model.prepare(params)


def test_a_cell_kinetics_therapy_model_stays_off_the_driven_backend() -> None:
    model = TherapyModel(SpinocerebellarAtaxia("SCA3", 12.0))
    assert model.remainder_kernel is not None
    assert not model.remainder_affine
    params = patient_params(model, np.random.default_rng(1), 1, 1.0, False, True)
    assert driven_structure(model, model.prepare(params)) is None


def test_the_kernels_change_no_simulation() -> None:
    """The fast engine does not use them: the same model without them gives the same bits."""
    with_kernels = TherapyModel(LimbIschemia())
    without = TherapyModel(LimbIschemia())
    without.remainder_kernel, without.switch_kernel = None, None
    without.remainder_kernel_parameters = ()
    params = patient_params(with_kernels, np.random.default_rng(2), 3, 1.0, True, True)
    doses = [
        ResolvedDose(0.0, Route.INTRAMUSCULAR, np.full(3, 5e7)),
        ResolvedDose(14.0, Route.INTRAVENOUS, np.full(3, 5e7)),
    ]
    schedule = build_schedule(doses, np.arange(0.0, 43.0, 3.0))
    runs = []
    for model in (with_kernels, without):
        y0 = np.repeat(model.initial_state(params), 3, axis=1)
        with np.errstate(under="ignore"):
            runs.append(integrate_fast(model, params, schedule, y0)[0])
    np.testing.assert_array_equal(runs[0], runs[1])


def test_cell_floor_is_the_sensitised_edge() -> None:
    """Cells summing to exactly the floor give no sensitised clearance in either path."""
    model, prepared, t, y, p = case("none", "allogeneic_single_scenario", "infinite", 3, 4)
    y[:5] = 0.0
    y[0] = CELL_FLOOR
    y[model.index["immune_memory"]] = 1.0
    out = np.full_like(y, np.nan)
    model.remainder_kernel(t, y, p, out)
    assert np.all(out[:5] == 0.0)
    assert np.all(model.remainder(t, y, prepared)[:5] == 0.0)
