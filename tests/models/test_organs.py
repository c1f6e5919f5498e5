"""The organ model: label and cell mass balance, physiology scaling, routes, engines agree."""

from __future__ import annotations

import numpy as np
import pytest

from mscsim.engine import FastSolver
from mscsim.engine.events import ResolvedDose, build_schedule
from mscsim.engine.reference_solver import integrate_scipy
from mscsim.errors import SpecError
from mscsim.models import Model, StateIndex
from mscsim.models.base import Array
from mscsim.models.organs import (
    LABEL_KINDS,
    LABEL_STATES,
    ORGAN_CELL_COMPARTMENTS,
    OrganKinetics,
)
from mscsim.models.physiology import BLOOD, physiology
from mscsim.spec.route import Route

HOUR = 1 / 24
TIMES = np.array([0.0, HOUR, 0.5, 1.0, 2.0, 3.0, 7.0, 7.5, 10.0, 14.0, 21.0, 30.0])


def params_of(model: Model, *, allogeneic: float = 0.0, **overrides: float) -> dict[str, Array]:
    params = {p.name: np.array([p.value]) for p in model.parameters}
    params.update(is_allogeneic=np.array([allogeneic]), potency=np.array([1.0]))
    params.update({k: np.array([v]) for k, v in overrides.items()})
    return params


def solve(model: Model, params: dict[str, Array], doses: list[ResolvedDose]) -> Array:
    schedule = build_schedule(doses, TIMES)
    y0 = np.zeros((len(model.states), 1))
    run = FastSolver().integrate(model, params, schedule, y0)
    assert not run.status.any(), run.message
    return run.states[:, 0, :]


def outputs(model: Model, params: dict[str, Array], states: Array) -> dict[str, Array]:
    prepared = {k: v[:, None] for k, v in model.prepare(params).items()}
    out = model.outputs(states[:, None, :], prepared)
    return {k: np.broadcast_to(v, (1, states.shape[1]))[0] for k, v in out.items()}


def bolus(route: Route, cells: float, day: float = 0.0, hours: float = 0.0) -> ResolvedDose:
    return ResolvedDose(day, route, np.array([cells]), hours / 24)


COURSE = [
    bolus(Route.INTRAVENOUS, 1e8),
    bolus(Route.INTRA_ARTERIAL, 5e7, day=7.0, hours=2.0),
    bolus(Route.INTRAMUSCULAR, 1.5e8, day=14.0),
    bolus(Route.INTRAVENOUS, 1e8, day=21.0),
]

# Immunity that bites: allogeneic cells in a patient who forms donor-specific
# antibodies, a strongly sensitising exposure, a tight target capacity (overflow),
# so the remainder moves cells and label.
IMMUNE = {
    "forms_dsa": 1.0,
    "sensitising_exposure_cell_days": 1e7,
    "sensitised_clearance_multiplier": 4.0,
    "target_capacity_cells": 2e7,
}


def label_balance(model: OrganKinetics, states: Array) -> tuple[Array, Array]:
    """Return (viable cells + every label state but label_injected, label_injected)."""
    i = model.index
    cells = states[i.rows(ORGAN_CELL_COMPARTMENTS)].sum(axis=0)
    held = cells + states[i.rows(LABEL_STATES[:-1])].sum(axis=0)
    return held, states[i["label_injected"]]


@pytest.mark.parametrize("immune", [False, True], ids=["autologous", "allogeneic_sensitised"])
@pytest.mark.parametrize("label", LABEL_KINDS)
def test_label_is_conserved_by_every_route_with_and_without_immunity(
    label: str, immune: bool
) -> None:
    model = OrganKinetics("human", label)
    params = params_of(model, allogeneic=float(immune), **(IMMUNE if immune else {}))
    schedule = build_schedule(COURSE, TIMES)
    y0 = np.zeros((len(model.states), 1))
    tight, status, _, _, message = integrate_scipy(
        model, params, schedule, y0, rtol=1e-10, atol=1e-9
    )
    assert not status.any(), message
    held, injected = label_balance(model, tight[:, 0])
    np.testing.assert_allclose(held, injected, rtol=1e-9, atol=0.0)
    assert injected[-1] == pytest.approx(4e8)
    if immune:  # the remainder really acted: memory cleared cells faster
        assert outputs(model, params, tight[:, 0])["sensitisation"].max() > 0.5
    if not immune:  # the fast engine too (with memory: see the test below)
        held, injected = label_balance(model, solve(model, params, COURSE))
        np.testing.assert_allclose(held, injected, rtol=1e-9, atol=0.0)


@pytest.mark.parametrize("label", LABEL_KINDS)
def test_the_fast_engine_conserves_label_with_memory_after_iv_and_local_doses(label: str) -> None:
    model = OrganKinetics("human", label)
    params = params_of(model, allogeneic=1.0, **IMMUNE)
    held, injected = label_balance(model, solve(model, params, [COURSE[0], *COURSE[2:]]))
    np.testing.assert_allclose(held, injected, rtol=1e-9, atol=0.0)


def test_the_fast_engine_conserves_label_with_memory_after_an_intra_arterial_infusion() -> None:
    model = OrganKinetics("human", "indium_111")
    params = params_of(model, allogeneic=1.0, **IMMUNE)
    held, injected = label_balance(model, solve(model, params, COURSE))
    np.testing.assert_allclose(held, injected, rtol=1e-9, atol=0.0)


def test_without_deaths_cells_are_conserved_and_circulate() -> None:
    model = OrganKinetics("mouse")
    lives = (
        "pbk_lung_half_life_days",
        "liver_spleen_half_life_days",
        "organ_half_life_days",
        "target_half_life_days",
        "early_loss_half_life_days",
    )
    immortal = dict.fromkeys(lives, 1e15)
    params = params_of(model, **immortal)
    states = solve(model, params, COURSE)
    total = outputs(model, params, states)["cells_total"]
    dosed = np.array([sum(d.viable_cells[0] for d in COURSE if d.time_day <= t) for t in TIMES])
    running = TIMES < 7.0  # before the infusion that starts on day 7
    np.testing.assert_allclose(total[running], dosed[running], rtol=1e-9)
    np.testing.assert_allclose(total[TIMES >= 7.5], dosed[TIMES >= 7.5], rtol=1e-9)


def test_with_deaths_the_total_falls_by_the_deaths_only() -> None:
    model = OrganKinetics("human", "luciferase")
    params = params_of(model, allogeneic=1.0)
    states = solve(model, params, [bolus(Route.INTRAVENOUS, 1e8)])
    i = model.index
    total = states[i.rows(ORGAN_CELL_COMPARTMENTS)].sum(axis=0)
    # luciferase: every dead cell's label is lost at once, so lost = dead cells
    np.testing.assert_allclose(total + states[i["label_lost"]], 1e8, rtol=1e-9)
    assert np.all(np.diff(total) < 0)


def blood_columns(model: OrganKinetics) -> list[int]:
    return [model.index[b] for b in BLOOD]


def test_species_changes_flows_and_volumes_only() -> None:
    mouse, human = OrganKinetics("mouse", "indium_111"), OrganKinetics("human", "indium_111")
    assert [p.name for p in mouse.parameters] == [p.name for p in human.parameters]
    assert mouse.states == human.states
    a_mouse, b_mouse = mouse.linear_system(params_of(mouse))
    a_human, b_human = human.linear_system(params_of(human))
    flow = blood_columns(human)
    other = [c for c in range(len(human.states)) if c not in flow]
    np.testing.assert_array_equal(a_mouse[:, :, other], a_human[:, :, other])
    np.testing.assert_array_equal(b_mouse, b_human)
    assert not np.allclose(a_mouse[:, :, flow], a_human[:, :, flow])
    # Blood flow moves cells, it does not make or lose them (innate clearance is 0 here).
    for a in (a_mouse, a_human):
        np.testing.assert_allclose(a[:, :, flow].sum(axis=1), 0.0, atol=1e-12 * np.abs(a).max())


def test_body_weight_scales_flows_by_the_three_quarter_power() -> None:
    model = OrganKinetics("human")
    light = params_of(model, weight_kg=70.0)
    heavy = params_of(model, weight_kg=140.0)
    a_light, _ = model.linear_system(light)
    a_heavy, _ = model.linear_system(heavy)
    flow = blood_columns(model)
    other = [c for c in range(len(model.states)) if c not in flow]
    np.testing.assert_array_equal(a_light[:, :, other], a_heavy[:, :, other])
    # Q / V scales as W^0.75 / W
    np.testing.assert_allclose(a_heavy[:, :, flow], a_light[:, :, flow] * 2.0**-0.25, rtol=1e-12)
    light_phys, heavy_phys = physiology("human", 70.0), physiology("human", 140.0)
    np.testing.assert_allclose(
        heavy_phys.cardiac_output_l_per_day, light_phys.cardiac_output_l_per_day * 2**0.75
    )
    np.testing.assert_allclose(heavy_phys.volume_l["rest"], 2 * light_phys.volume_l["rest"])


def test_a_missing_weight_means_the_species_reference_weight() -> None:
    model = OrganKinetics("rat")
    params = params_of(model)
    a_default, _ = model.linear_system(params)
    a_reference, _ = model.linear_system({**params, "weight_kg": np.array([0.25])})
    np.testing.assert_array_equal(a_default, a_reference)


def test_luciferase_signal_needs_viable_cells_while_indium_persists() -> None:
    fractions = {}
    for label in ("luciferase", "indium_111"):
        model = OrganKinetics("mouse", label)
        params = params_of(model)
        out = outputs(model, params, solve(model, params, [bolus(Route.INTRAVENOUS, 1e6)]))
        fractions[label] = out["label_fraction_total"]
        if label == "luciferase":  # exactly the viable share of the dose
            np.testing.assert_allclose(out["label_fraction_total"], out["cells_total"] / 1e6)
            cells_left = out["cells_total"][-1]
    assert cells_left < 1.0  # no viable cell at day 30
    assert fractions["luciferase"][-1] < 1e-6
    assert fractions["indium_111"][-1] > 1e3 * fractions["luciferase"][-1]


@pytest.mark.parametrize("species", ["mouse", "rat", "human"])
def test_iv_cells_start_in_venous_blood_and_lodge_in_the_lung_within_an_hour(
    species: str,
) -> None:
    model = OrganKinetics(species, "indium_111")
    params = params_of(model)
    out = outputs(model, params, solve(model, params, [bolus(Route.INTRAVENOUS, 1e6)]))
    assert out["cells_blood"][0] == pytest.approx(1e6)
    assert out["cells_lung"][0] == 0.0
    assert out["cells_lung"][1] > 0.5 * 1e6
    assert out["cells_lung"][1] > 10 * out["cells_liver"][1]
    assert out["label_fraction_lung"][1] > 0.5
    # the label then leaves the lung for liver and spleen (R29)
    assert out["label_fraction_liver"][5] > out["label_fraction_liver"][1]
    assert out["label_fraction_lung"][5] < out["label_fraction_lung"][1]


def test_intra_arterial_cells_mostly_skip_the_lung() -> None:
    model = OrganKinetics("human")
    params = params_of(model)
    out = outputs(model, params, solve(model, params, [bolus(Route.INTRA_ARTERIAL, 1e6)]))
    a = params["ia_lung_fraction"][0]
    assert out["cells_target"][0] == pytest.approx((1 - a) * 1e6)
    assert out["cells_blood"][0] == pytest.approx(a * 1e6)
    assert out["cells_lung"][1] < 2 * a * 1e6


def test_local_cells_stay_local() -> None:
    model = OrganKinetics("human")
    params = params_of(model, target_half_life_days=4.0)
    out = outputs(model, params, solve(model, params, [bolus(Route.INTRAMUSCULAR, 1e6)]))
    assert out["cells_target"][0] == pytest.approx(1e6)
    share = out["cells_target"][1:] / out["cells_total"][1:]
    assert np.all(share > 0.9)


def test_remainder_writes_and_reads_only_its_declared_states() -> None:
    model = OrganKinetics("human", "indium_111")
    rng = np.random.default_rng(3)
    n = 4
    params = {k: np.repeat(v, n) for k, v in params_of(model, allogeneic=1.0, **IMMUNE).items()}
    prepared = model.prepare(params)
    y = rng.uniform(0.5, 3.0, (len(model.states), n)) * 1e7
    r = model.remainder(0.0, y, prepared)
    index = StateIndex(model.states)
    silent = [s for s in model.states if s not in model.remainder_writes]
    assert np.all(r[index.rows(silent)] == 0.0)
    assert np.any(r != 0.0)
    # what the remainder takes from cells it gives to the label
    assert np.sum(r) == pytest.approx(0.0, abs=1e-9 * np.abs(r).max())
    unread = [s for s in model.states if s not in model.remainder_reads]
    shaken = y.copy()
    shaken[index.rows(unread)] *= 1.7
    np.testing.assert_array_equal(model.remainder(0.0, shaken, prepared), r)


def test_unknown_species_or_label_is_refused() -> None:
    with pytest.raises(SpecError, match="species = 'dog'"):
        OrganKinetics("dog")
    with pytest.raises(SpecError, match=r"label\.kind = 'gfp'"):
        OrganKinetics("human", "gfp")


def test_fast_engine_matches_a_tight_scipy_solve_on_an_allogeneic_human_iv_course() -> None:
    model = OrganKinetics("human", "indium_111")
    params = params_of(model, allogeneic=1.0, sensitising_exposure_cell_days=1e7, forms_dsa=1.0)
    doses = [bolus(Route.INTRAVENOUS, 1e8, day=d, hours=1.0) for d in (0.0, 7.0, 14.0)]
    schedule = build_schedule(doses, TIMES)
    y0 = np.zeros((len(model.states), 1))
    with np.errstate(under="ignore"):
        fast = FastSolver().integrate(model, params, schedule, y0).states
        tight, status, _, _, message = integrate_scipy(
            model, params, schedule, y0, rtol=1e-10, atol=1e-9
        )
    assert not status.any(), message
    out_fast, out_tight = outputs(model, params, fast[:, 0]), outputs(model, params, tight[:, 0])
    assert out_tight["sensitisation"].max() > 0.1  # memory acted on the later doses
    for name in model.output_names:
        a, b = out_fast[name], out_tight[name]
        scale = np.maximum(np.abs(b), 1e-4 * np.abs(b).max()) + 1e-12
        assert np.max(np.abs(a - b) / scale) < 1e-5, name
