"""The adaptive backend compiled: the same method as the NumPy one, one patient per loop.

Every test model here gives its remainder compiled (``remainder_kernel``) and is
not one-way affine, so the fast engine integrates it adaptively. The compiled
run must agree with the NumPy run of the same model to rounding, meet the same
accuracy against a tight reference, give each patient the same bits alone, in
any batch and on any number of threads, and refuse a kernel that is not the
model's remainder.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numba import njit
from tests.engine.test_adaptive import DOSES, PARAMS, TIMES, IndirectResponse, error, reference
from tests.engine.test_compiled import EMAX, emax_kernel

from mscsim import ResolvedDose, Route, SimulationResult, simulate
from mscsim.engine import FastSolver, driven
from mscsim.engine.adaptive import integrate_adaptive
from mscsim.engine.events import build_schedule
from mscsim.errors import SpecError
from mscsim.models.base import Array, Params


@njit(cache=True, error_model="numpy")
def saturable_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    for j in range(t.size):
        c = y[1, j]
        out[1, j] = -p[3, j] * c / (p[4, j] + c)
        out[2, j] = -p[0, j] * p[1, j] * c / (p[2, j] + c) * y[2, j]


@njit(cache=True, error_model="numpy")
def threshold_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    for j in range(t.size):
        out[2, j] = -p[0, j] * p[1, j] * max(y[1, j] - p[2, j], 0.0) * y[2, j]


@njit(cache=True, error_model="numpy")
def threshold_switch(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    for j in range(t.size):
        out[0, j] = y[1, j] - p[2, j]


@njit(cache=True, error_model="numpy")
def wrong_switch(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    for j in range(t.size):
        out[0, j] = -1.0


@njit(cache=True, error_model="numpy")
def exploding_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    for j in range(t.size):
        out[2, j] = -p[1, j] * y[2, j] ** 2


@njit(cache=True, error_model="numpy")
def raising_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    raise ValueError("no")


SATURABLE = {**PARAMS, "vmax": np.array([20.0]), "km": np.array([0.5])}
THRESHOLD = {**PARAMS, "c0": np.array([0.3])}


class Saturable(IndirectResponse):
    """Central also cleared by a saturable pathway: the remainder writes what it reads."""

    remainder_reads = ("central", "score")
    remainder_writes = ("central", "score")
    remainder_kernel = staticmethod(saturable_kernel)
    remainder_kernel_parameters = (*EMAX, "vmax", "km")

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        out = super().remainder(t_day, y, params)
        c = y[1]
        out[1] = -params["vmax"] * c / (params["km"] + c)
        return out


class Threshold(IndirectResponse):
    """The score responds only above a concentration ``c0``: linear below its switch."""

    linear_below_switches = True
    remainder_kernel = staticmethod(threshold_kernel)
    remainder_kernel_parameters = ("kout", "emax", "c0")
    switch_kernel = staticmethod(threshold_switch)

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        out = np.zeros_like(y)
        above = np.maximum(y[1] - params["c0"], 0.0)
        out[2] = -params["kout"] * params["emax"] * above * y[2]
        return out

    def switches(self, y: Array, params: Params) -> Array:
        return np.broadcast_to(y[1] - params["c0"], y.shape[1:])[None, :]


class IndirectKernel(IndirectResponse):
    remainder_kernel = staticmethod(emax_kernel)
    remainder_kernel_parameters = EMAX


class ExplodingKernel(IndirectResponse):
    remainder_kernel = staticmethod(exploding_kernel)
    remainder_kernel_parameters = EMAX

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        out = np.zeros_like(y)
        out[2] = -params["emax"] * y[2] ** 2
        return out


def plain(model: IndirectResponse) -> IndirectResponse:
    """Return the same model with its kernels withdrawn: the NumPy adaptive backend."""
    kind = type(model)
    return type("Plain" + kind.__name__, (kind,), {"remainder_kernel": None})()


def population(base: Params, n: int, seed: int = 5) -> Params:
    """``n`` patients around ``base``: 30% log-normal on every parameter."""
    rng = np.random.default_rng(seed)
    return {k: v * np.exp(0.3 * rng.standard_normal(n)) for k, v in base.items()}


def run(
    model: IndirectResponse, params: Params, n: int, solver: FastSolver | None = None
) -> SimulationResult:
    return simulate(
        model, DOSES, times_day=TIMES, params=params, n_patients=n, solver=solver or FastSolver()
    )


@pytest.mark.parametrize(
    ("model", "base"),
    [(IndirectKernel(), PARAMS), (Saturable(), SATURABLE), (Threshold(), THRESHOLD)],
    ids=["one_way", "feedback", "switches"],
)
def test_the_compiled_run_agrees_with_the_numpy_run(model: IndirectResponse, base: Params) -> None:
    params = population(base, 40)
    compiled = run(model, params, 40).states
    numpy_run = run(plain(model), params, 40).states
    np.testing.assert_allclose(compiled, numpy_run, rtol=1e-11, atol=1e-300)


def tolerance_units(states: Array, ref: Array, rtol: float, atol: float) -> float:
    """Largest error in units of the tolerance: ``rtol`` of each value (or of 1e-6 of its
    state's peak) plus ``atol`` (the central compartment falls far below its atol)."""
    scale = np.maximum(np.abs(ref), 1e-6 * np.abs(ref).max(axis=1, keepdims=True))
    return float(np.max(np.abs(states - ref) / (rtol * scale + atol)))


@pytest.mark.parametrize("rtol", [1e-3, 1e-6, 1e-9])
def test_error_stays_within_a_small_multiple_of_the_tolerance(rtol: float) -> None:
    ref = reference(Saturable(), SATURABLE, DOSES)
    atol = rtol * 1e-6
    states = run(Saturable(), SATURABLE, 1, FastSolver(rtol=rtol, atol=atol)).states
    assert tolerance_units(states[:, 0], ref, rtol, atol) <= 50


def test_error_falls_as_rtol_is_tightened() -> None:
    ref = reference(Saturable(), SATURABLE, DOSES)
    errors = [
        error(run(Saturable(), SATURABLE, 1, FastSolver(rtol=r, atol=r * 1e-6)).states[:, 0], ref)
        for r in (1e-3, 1e-6, 1e-9)
    ]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[0] / errors[2] > 1e3, errors


def test_a_patient_gives_the_same_bits_alone_in_any_batch_and_on_any_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = 9
    params = population(SATURABLE, n, seed=3)
    whole = run(Saturable(), params, n).states
    rng = np.random.default_rng(0)
    for idx in (np.array([4]), np.array([8, 0, 5]), rng.permutation(n)):
        part = run(Saturable(), {k: v[idx] for k, v in params.items()}, idx.size).states
        np.testing.assert_array_equal(part, whole[:, idx])
    for threads in (1, 2, 5):
        monkeypatch.setattr(driven, "COMPILED_THREADS", threads)
        np.testing.assert_array_equal(run(Saturable(), params, n).states, whole)


def test_switches_give_exact_steps_where_the_model_is_linear() -> None:
    params = population(THRESHOLD, 20)
    schedule = build_schedule(DOSES, TIMES)
    model = Threshold()
    y0 = model.initial_state(params)
    with_switches = integrate_adaptive(model, params, schedule, y0)
    no_switches = type("NoSwitch", (Threshold,), {"switch_kernel": None})()
    without = integrate_adaptive(no_switches, params, schedule, y0)
    # Fewer steps (an exact one per linear interval), the same states to the tolerance.
    assert with_switches.n_steps < 0.8 * without.n_steps, (with_switches.n_steps, without.n_steps)
    ref = reference(model, {k: v[:1] for k, v in params.items()}, DOSES)
    assert error(with_switches.states[:, 0], ref) <= 10 * 1e-7


def test_a_patient_that_blows_up_is_flagged_and_the_others_are_not() -> None:
    params = dict(PARAMS)
    params["emax"] = np.array([0.01, -1.0, 0.01])
    result = simulate(
        ExplodingKernel(),
        DOSES,
        times_day=TIMES,
        params=params,
        n_patients=3,
        solver=FastSolver(),
        on_failure="flag",
    )
    assert result.status.tolist() == [0, 1, 0]
    assert np.isfinite(result.states[:, [0, 2]]).all()


def test_nonnegative_states_never_leave_the_engine_negative() -> None:
    params = {**SATURABLE, "ke": np.array([4000.0])}
    states = run(Saturable(), params, 1, FastSolver(rtol=1e-3, atol=1e-3)).states
    assert (states[:2] >= 0).all()


def test_the_longest_step_is_kept() -> None:
    params = population(SATURABLE, 5)
    solver = FastSolver(max_step_day=0.25)
    compiled = run(Saturable(), params, 5, solver).states
    np.testing.assert_allclose(
        compiled, run(plain(Saturable()), params, 5, solver).states, rtol=1e-11, atol=1e-300
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"remainder_kernel_parameters": ("kout", "ec50", "ec50", "vmax", "km")}, "differs"),
        ({"remainder_kernel": staticmethod(raising_kernel)}, "kernel failed"),
        ({"remainder_kernel": staticmethod(lambda t, y, p, out: None)}, "must be a numba"),
        ({"remainder_kernel_parameters": ("kout", "emax", "ec_50", "vmax", "km")}, "ec_50"),
    ],
    ids=["wrong_parameters", "raises", "not_compiled", "missing_parameter"],
)
def test_a_kernel_that_is_not_the_remainder_is_refused(
    changes: dict[str, object], message: str
) -> None:
    model = type("Changed", (Saturable,), changes)()
    with pytest.raises(SpecError, match=message):
        run(model, SATURABLE, 1)


def test_a_switch_kernel_of_the_wrong_sign_is_refused() -> None:
    # It says "linear" everywhere, so the run never calls the remainder: the check
    # compares it with the model's switches at the outputs (hourly here, where the
    # concentration is above c0 after each dose).
    model = type("WrongSwitch", (Threshold,), {"switch_kernel": staticmethod(wrong_switch)})()
    hourly = np.arange(0.0, 2.0, 1 / 24)
    with pytest.raises(SpecError, match="switch_kernel"):
        simulate(model, DOSES[:1], times_day=hourly, params=THRESHOLD, solver=FastSolver())


def test_an_empty_run_and_a_run_without_outputs_after_doses_need_no_check() -> None:
    model = Saturable()
    schedule = build_schedule(DOSES, TIMES)
    params = {k: v[:0] for k, v in population(SATURABLE, 2).items()}
    y0 = np.zeros((3, 0))
    run_ = integrate_adaptive(model, params, schedule, y0)
    assert run_.states.shape == (3, 0, TIMES.size)
    assert math.isfinite(float(run_.n_steps))


def assert_compiled_as_numpy(
    make: Callable[[], Any], doses: list[ResolvedDose], times: Array, finite: bool, seed: int
) -> None:
    """Run a model built by ``make`` with and without its kernels; the runs must agree."""
    from tests.models.test_therapy_kernels import patient_params

    model, without = make(), make()
    without.remainder_kernel = None
    n = doses[0].viable_cells.size
    params = patient_params(model, np.random.default_rng(seed), n, 1.0, True, finite)
    params["weight_kg"] = np.array([65.0])
    schedule = build_schedule(doses, times)
    y0 = np.broadcast_to(model.initial_state(params), (len(model.states), n)).copy()
    with np.errstate(under="ignore"):
        compiled = FastSolver().integrate(model, params, schedule, y0)
        numpy_run = FastSolver().integrate(without, params, schedule, y0)
    assert compiled.status.tolist() == numpy_run.status.tolist() == [0] * n
    np.testing.assert_allclose(compiled.states, numpy_run.states, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("finite", [False, True], ids=["no_capacity", "capacity"])
def test_the_therapy_model_runs_compiled_as_it_runs_in_numpy(finite: bool) -> None:
    # Allogeneic SCA patients, some forming donor-specific antibodies (memory clears
    # their cells), with varied immunity, effect and (optionally) retention capacity.
    from mscsim.models import TherapyModel
    from mscsim.models.diseases.sca import SpinocerebellarAtaxia

    n = 24
    doses = [ResolvedDose(d, Route.INTRAVENOUS, np.full(n, 6.5e7), 1 / 24) for d in (0.0, 90.0)]
    assert_compiled_as_numpy(
        lambda: TherapyModel(SpinocerebellarAtaxia("SCA3", 13.0)),
        doses,
        np.arange(0.0, 181.0),
        finite,
        seed=11,
    )


def test_the_kinetics_alone_run_compiled_as_in_numpy() -> None:
    # The reduced kinetics give the therapy model's kernels (their first seven rows):
    # allogeneic hosts that form antibodies, some with a finite retention capacity.
    from mscsim.models import kernel_layout, kinetics
    from mscsim.models.kinetics import CellKinetics

    assert kernel_layout.CELL_COMPARTMENTS == kinetics.CELL_COMPARTMENTS
    n = 16
    doses = [ResolvedDose(d, Route.INTRAMUSCULAR, np.full(n, 5e7)) for d in (0.0, 21.0)]
    assert_compiled_as_numpy(CellKinetics, doses, np.arange(0.0, 43.0), True, seed=2)
