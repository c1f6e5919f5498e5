"""Patients grouped by what their remainder does: quadrature where it is one-way, adaptive else.

The therapy model's remainder acts on the cells only in hosts whose memory can
clear them (or with a finite retention capacity); in every other patient it
only bends the disease, one-way and affine in each disease state. The fast
engine integrates those patients by quadrature, one disease state at a time
(:func:`mscsim.engine.driven.driven_groups`), and the others adaptively. The
result must match a tight reference, and a patient's result must not depend
on the batch it is in.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.models.test_therapy_kernels import patient_params

from mscsim import ResolvedDose, Route
from mscsim.engine import FastSolver, ScipySolver
from mscsim.engine.driven import driven_groups
from mscsim.engine.events import build_schedule
from mscsim.engine.solvers import Integration
from mscsim.models import TherapyModel
from mscsim.models.base import Array, Params, take_rows
from mscsim.models.diseases.sca import SpinocerebellarAtaxia
from mscsim.models.kinetics import CellKinetics
from mscsim.models.organs import OrganKinetics

N = 12
TIMES = np.arange(0.0, 181.0)


def sca_population(n: int = N, seed: int = 11) -> tuple[TherapyModel, Params]:
    """Allogeneic SCA3 patients with infinite capacity, about half forming antibodies."""
    model = TherapyModel(SpinocerebellarAtaxia("SCA3", 13.0))
    params = patient_params(model, np.random.default_rng(seed), n, 1.0, True, False)
    params["weight_kg"] = np.array([65.0])
    return model, params


def doses(n: int) -> list[ResolvedDose]:
    return [ResolvedDose(d, Route.INTRAVENOUS, np.full(n, 6.5e7), 1 / 24) for d in (0.0, 90.0)]


def integrate(model: TherapyModel, params: Params, solver: FastSolver | ScipySolver) -> Integration:
    n = np.broadcast(*params.values()).shape[0]
    schedule = build_schedule(doses(n), TIMES)
    y0 = np.broadcast_to(model.initial_state(params), (len(model.states), n)).copy()
    with np.errstate(under="ignore"):
        return solver.integrate(model, params, schedule, y0)


def test_patients_whose_kinetics_are_linear_take_one_quadrature_per_disease_state() -> None:
    model, params = sca_population()
    prepared = model.prepare(params)
    groups = driven_groups(model, prepared, N)
    assert groups is not None
    linear = model.kinetics.linear_patients(prepared)
    assert 0 < linear.sum() < N
    for idx, views in groups:
        if linear[idx].all():
            assert [v.remainder_writes for v, _ in views] == [
                ("sara_underlying",),
                ("sara_improvement",),
            ]
            assert all(v.remainder_reads == ("factor", *v.remainder_writes) for v, _ in views)
        else:
            assert not linear[idx].any() and views == []


def test_the_grouped_run_matches_a_tight_reference() -> None:
    model, params = sca_population(6, seed=4)
    fast = integrate(model, params, FastSolver())
    ref = integrate(model, params, ScipySolver(rtol=1e-10, atol=1e-12, method="Radau"))
    assert fast.status.tolist() == [0] * 6
    assert relative_error(fast.states, ref.states) <= 1e-6


def test_a_patient_gives_the_same_bits_alone_and_in_a_mixed_batch() -> None:
    model, params = sca_population()
    whole = integrate(model, params, FastSolver()).states
    for idx in (np.array([0]), np.array([7, 2, 3]), np.random.default_rng(0).permutation(N)):
        part = integrate(model, take_rows(params, idx), FastSolver()).states
        np.testing.assert_array_equal(part, whole[:, idx])


def test_progress_is_reported_in_order_up_to_the_total() -> None:
    model, params = sca_population()
    calls: list[tuple[int, int]] = []
    schedule = build_schedule(doses(N), TIMES)
    y0 = np.broadcast_to(model.initial_state(params), (len(model.states), N)).copy()
    FastSolver().integrate(model, params, schedule, y0, progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert len(calls) >= 3 and done == sorted(done)
    assert calls[-1] == (schedule.breakpoints.size, schedule.breakpoints.size)


@pytest.mark.parametrize("kinetics", [CellKinetics, OrganKinetics])
def test_the_pattern_says_what_each_written_row_reads(kinetics: type) -> None:
    model = TherapyModel(SpinocerebellarAtaxia("SCA3", 13.0), kinetics())
    params = patient_params(model, np.random.default_rng(2), 40, 1.0, True, True)
    params["target_capacity_cells"] = np.where(np.arange(40) < 20, np.inf, 1e7)
    prepared = model.prepare(params)
    pattern = model.remainder_pattern(prepared)
    nk = len(model.kinetics.remainder_writes)
    linear = model.kinetics.linear_patients(prepared)
    assert 0 < linear.sum() < 40
    # The kinetics' rows are 0 exactly in the linear patients, else read cells and memory.
    kinetic = pattern[:, :nk]
    assert (kinetic.any(axis=(1, 2)) == ~linear).all()
    reads = model.index.rows(model.kinetics.remainder_reads)
    assert (kinetic[~linear][:, :, reads]).all()
    # The disease rows read the factor and their own state (SCA's matrix couples no other).
    i = model.index
    for k, state in enumerate(model.disease.states):
        row = pattern[:, nk + k]
        assert set(np.flatnonzero(row.any(axis=0))) == {i["factor"], i[state]}
    # Linear patients' remainder rows of the kinetics are 0 at any state their run
    # reaches: from no memory (the initial state), which without priming stays 0.
    y = np.random.default_rng(3).uniform(0.0, 1e8, (len(model.states), 40))
    y[i["immune_memory"]] = np.where(linear, 0.0, y[i["immune_memory"]])
    rest = model.remainder(0.0, y, prepared)
    assert np.all(rest[i.rows(model.kinetics.remainder_writes)][:, linear] == 0.0)


def test_a_subclass_that_changes_the_remainder_is_not_grouped_by_the_parent_pattern() -> None:
    # A user's variant adds a nonlinear clearance at the target; the parent's pattern
    # (and kernels) do not describe it, so it is not claimed: the engine runs it whole.
    class Crowding(TherapyModel):
        linear_below_switches = False  # its new term acts below the parent's switches

        def remainder(self, t_day: float, y: Array, params: Params) -> Array:
            out = super().remainder(t_day, y, params)
            t = self.index["target"]
            out[t] -= 0.5 * y[t] ** 2 / (y[t] + 1e6)
            return out

    model = Crowding(SpinocerebellarAtaxia("SCA3", 13.0))
    assert model.remainder_kernel is None and model.remainder_pattern({}) is None
    params = patient_params(model, np.random.default_rng(2), 3, 0.0, False, False)
    params["weight_kg"] = np.array([65.0])
    assert driven_groups(model, model.prepare(params), 3) is None
    fast = integrate(model, params, FastSolver())
    ref = integrate(model, params, ScipySolver(rtol=1e-10, atol=1e-12, method="Radau"))
    assert relative_error(fast.states, ref.states) <= 1e-6


def relative_error(states: Array, ref: Array) -> float:
    """Largest error relative to each value, or to 1e-6 of that state's peak."""
    peak = np.abs(ref).max(axis=2, keepdims=True)
    scale = np.maximum(np.abs(ref), 1e-6 * peak)
    return float((np.abs(states - ref) / np.where(scale > 0, scale, 1.0)).max())


def test_an_empty_batch_and_a_failed_patient() -> None:
    model, params = sca_population(3)
    schedule = build_schedule(doses(3), TIMES)
    empty = FastSolver().integrate(
        model,
        take_rows(params, np.zeros(0, dtype=np.intp)),
        schedule.take(np.zeros(0, dtype=np.intp)),
        np.zeros((12, 0)),
    )
    assert empty.states.shape == (12, 0, TIMES.size)
    # A patient whose driven state cannot be integrated is flagged and NaN throughout.
    bad = dict(params)
    bad["sara_benefit_half_life_days"] = np.array([1.0, np.nan, 1.0])
    with np.errstate(invalid="ignore"):
        run = integrate(model, bad, FastSolver())
    assert run.status[1] == 1 and np.isnan(run.states[:, 1]).all()
    assert run.status[[0, 2]].tolist() == [0, 0] and np.isfinite(run.states[:, [0, 2]]).all()
