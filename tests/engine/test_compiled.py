"""The driven backend compiled: the same method as the NumPy one, patients side by side.

Every test model here is a model of ``test_driven.py`` with its remainder also
given compiled (``remainder_kernel``). The compiled run must agree with the
NumPy run of the same model (same panels, results to rounding), meet the same
accuracy against a tight reference, and give each patient the same bits alone
or in any batch, in any lane of any block.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit
from numpy.typing import NDArray
from tests.engine.test_adaptive import DOSES, PARAMS, TIMES, error, reference
from tests.engine.test_driven import (
    TIGHT,
    AffineResponse,
    CoupledResponse,
    HillResponse,
    OnlyDriven,
    RotatingAffine,
    Squared,
)

from mscsim import ResolvedDose, Route, simulate
from mscsim.engine import FastSolver
from mscsim.engine.compiled import LANES
from mscsim.errors import SpecError
from mscsim.models.base import Array, Params


@njit(cache=True, error_model="numpy")
def emax_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    for j in range(t.size):
        c = y[1, j]
        out[2, j] = -p[0, j] * p[1, j] * c / (p[2, j] + c) * y[2, j]


@njit(cache=True, error_model="numpy")
def hill_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    for j in range(t.size):
        c = max(y[1, j], 0.0) ** p[3, j]
        out[2, j] = -p[0, j] * p[1, j] * c / (p[2, j] ** p[3, j] + c) * y[2, j]


@njit(cache=True, error_model="numpy")
def sine_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    for j in range(t.size):
        out[0, j] = 0.5 * math.sin(t[j]) * y[0, j]


@njit(cache=True, error_model="numpy")
def squared_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    for j in range(t.size):
        c = y[1, j]
        out[2, j] = -p[0, j] * c / (p[2, j] + c) * y[2, j] ** 2


EMAX = ("kout", "emax", "ec50")


class Kernel(AffineResponse):
    remainder_kernel = staticmethod(emax_kernel)
    remainder_kernel_parameters = EMAX


class CoupledKernel(CoupledResponse):
    remainder_kernel = staticmethod(emax_kernel)
    remainder_kernel_parameters = EMAX


class HillKernel(HillResponse):
    remainder_kernel = staticmethod(hill_kernel)
    remainder_kernel_parameters = (*EMAX, "hill")


class OnlyDrivenKernel(OnlyDriven):
    remainder_kernel = staticmethod(sine_kernel)


class RotatingKernel(RotatingAffine):
    remainder_kernel = staticmethod(emax_kernel)
    remainder_kernel_parameters = EMAX


class SquaredKernel(Squared):
    remainder_kernel = staticmethod(squared_kernel)
    remainder_kernel_parameters = EMAX


class WrongKernel(AffineResponse):
    """The kernel reads ``ec50`` where the remainder reads ``emax``: not the same model."""

    remainder_kernel = staticmethod(emax_kernel)
    remainder_kernel_parameters = ("kout", "ec50", "ec50")


class NoSuchParameter(AffineResponse):
    remainder_kernel = staticmethod(emax_kernel)
    remainder_kernel_parameters = ("kout", "emax", "ec_50")


class NotCompiled(AffineResponse):
    @staticmethod
    def remainder_kernel(t: Array, y: Array, p: Array, out: Array) -> None:
        out[2] = 0.0


def without_kernel(model: AffineResponse) -> AffineResponse:
    """Return the same model with the kernel withdrawn: the NumPy driven backend."""
    plain = type("Plain" + type(model).__name__, (type(model),), {"remainder_kernel": None})
    return plain()


def population(n: int, seed: int = 3, **extra: Array) -> Params:
    """``n`` patients around :data:`PARAMS` (30% log-normal on ka, ke, kout, ec50)."""
    rng = np.random.default_rng(seed)
    params = {k: np.repeat(v, n) for k, v in {**PARAMS, **extra}.items()}
    for name in ("ka", "ke", "kout", "ec50"):
        params[name] = params[name] * np.exp(0.3 * rng.standard_normal(n))
    return params


def solve(model: AffineResponse, params: Params, n: int, **kw: object) -> object:
    options = {"doses": DOSES, "times_day": TIMES, "solver": FastSolver()} | kw
    return simulate(model, params=params, n_patients=n, **options)  # type: ignore[arg-type]


def assert_same(a: Array, b: Array, tol: float = 1e-12) -> None:
    """Agree to ``tol`` of each output's peak, patient by patient."""
    peak = np.maximum(np.abs(b).max(axis=2, keepdims=True), 1e-300)
    assert np.nanmax(np.abs(a - b) / peak) <= tol
    assert np.array_equal(np.isnan(a), np.isnan(b))


# --------------------------------------------------------------------------- the same method


@pytest.mark.parametrize(
    ("model", "extra"),
    [
        (Kernel(), {}),
        (CoupledKernel(), {}),
        (HillKernel(), {"hill": np.array([4.0])}),
    ],
    ids=["emax", "reads-a-driver", "hill"],
)
def test_compiled_and_numpy_runs_agree_panel_for_panel(model: AffineResponse, extra: dict) -> None:
    n = LANES + 9  # two blocks, the second padded
    params = population(n, **extra)
    compiled = solve(model, params, n)
    numpy_run = solve(without_kernel(model), params, n)
    assert compiled.n_steps == numpy_run.n_steps  # the same panels, halvings included
    assert_same(compiled.states, numpy_run.states)


def test_halving_runs_in_the_compiled_backend_as_in_the_numpy_one() -> None:
    # A steep Hill effect after each dose fails the first panels: both halve them alike.
    params = {**PARAMS, "ka": np.array([2.0]), "ec50": np.array([6.4e-4])}
    params |= {"hill": np.array([12.0]), "emax": np.array([5.0])}
    params = {k: np.repeat(v, 3) for k, v in params.items()}
    params["ec50"] = np.array([6.4e-4, 1e-3, 0.2])
    doses = [ResolvedDose(t, Route.INTRAMUSCULAR, np.array([2.0])) for t in (0.0, 10.0)]
    times = np.arange(0.0, 21.0, 0.25)
    kw = {"doses": doses, "times_day": times, "solver": FastSolver(rtol=1e-7)}
    compiled = solve(HillKernel(), params, 3, **kw)
    numpy_run = solve(without_kernel(HillKernel()), params, 3, **kw)
    nominal = solve(HillKernel(), params, 3, **kw | {"solver": FastSolver(rtol=0.5)}).n_steps
    assert compiled.n_steps > nominal  # panels were halved
    assert compiled.n_steps == numpy_run.n_steps
    assert_same(compiled.states, numpy_run.states)
    ref = simulate(HillKernel(), doses, times_day=times, params=params, n_patients=3, solver=TIGHT)
    for i in range(3):
        assert error(compiled.states[2:, i], ref.states[2:, i]) <= 1e-6


@pytest.mark.parametrize("rtol", [1e-3, 1e-6, 1e-9])
def test_error_stays_within_a_small_multiple_of_rtol(rtol: float) -> None:
    params = {**PARAMS, "emax": np.array([4.0]), "ec50": np.array([0.02])}
    ref = reference(Kernel(), params, DOSES)
    states = solve(Kernel(), params, 1, solver=FastSolver(rtol=rtol)).states[:, 0]
    assert error(states, ref) <= max(10 * rtol, 1e-9)


def test_infusions_and_per_patient_doses_agree_with_the_numpy_run() -> None:
    n = 5
    amounts = np.array([1.0, 2.0, 5.0, 10.0, 20.0])
    doses = [
        ResolvedDose(0.0, Route.INTRAMUSCULAR, amounts),
        ResolvedDose(7.5, Route.INTRAMUSCULAR, amounts / 2, duration_day=1.5),
        ResolvedDose(20.0, Route.INTRAMUSCULAR, amounts),
    ]
    for model in (Kernel(), CoupledKernel()):
        compiled = solve(model, population(n), n, doses=doses)
        numpy_run = solve(without_kernel(model), population(n), n, doses=doses)
        assert compiled.n_steps == numpy_run.n_steps
        assert_same(compiled.states, numpy_run.states)


def test_a_model_whose_only_state_is_driven() -> None:
    params = {"kout": np.array([0.3, 0.05])}
    dose = [ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([2.0]))]
    kw = {"doses": dose}
    compiled = solve(OnlyDrivenKernel(), params, 2, **kw)
    ref = simulate(
        OnlyDrivenKernel(), dose, times_day=TIMES, params=params, n_patients=2, solver=TIGHT
    )
    for i in range(2):
        assert error(compiled.states[:, i], ref.states[:, i]) <= 1e-6


def test_patients_without_real_driver_modes_still_go_to_the_adaptive_backend() -> None:
    params = {k: np.repeat(v, 3) for k, v in {**PARAMS, "emax": np.array([0.0])}.items()}
    params["ka"] = np.array([3.0, 3.0, 1.0])
    compiled = solve(RotatingKernel(), params, 3)
    numpy_run = solve(without_kernel(RotatingKernel()), params, 3)
    assert_same(compiled.states, numpy_run.states, tol=1e-9)


# --------------------------------------------------------------------------- guarantees


def test_a_patient_gets_the_same_bits_alone_or_in_any_lane_of_any_batch() -> None:
    n = 2 * LANES + 5
    params = population(n, seed=11, hill=np.array([3.0]))
    batch = solve(HillKernel(), params, n).states
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    shuffled = solve(HillKernel(), {k: v[order] for k, v in params.items()}, n).states
    assert np.array_equal(shuffled, batch[:, order])
    for i in (0, LANES - 1, LANES, n - 1):
        alone = solve(HillKernel(), {k: v[i : i + 1] for k, v in params.items()}, 1).states
        assert np.array_equal(alone[:, 0], batch[:, i])


def test_a_patient_with_a_nan_parameter_is_flagged_and_the_others_are_not() -> None:
    params = population(4)
    params["emax"] = np.array([1.5, np.nan, 1.5, 1.5])
    result = solve(Kernel(), params, 4, on_failure="flag")
    assert result.status.tolist() == [0, 1, 0, 0]
    assert np.isnan(result.states[:, 1]).all()
    alone = solve(Kernel(), {k: v[2:3] for k, v in params.items()}, 1).states
    assert np.array_equal(alone[:, 0], result.states[:, 2])


def test_a_patient_whose_states_overflow_is_flagged_as_by_the_numpy_run() -> None:
    # The compiled run vouches for the finiteness of its outputs (the engine does
    # not scan them again): a dose too large to hold must flag that patient alone.
    params = population(3)
    huge = [ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([5.0, 1.5e308, 5.0]))] * 2
    compiled = solve(Kernel(), params, 3, doses=huge, on_failure="flag")
    with np.errstate(all="ignore"):  # NumPy's default outside the tests: inf - inf is NaN
        numpy_run = solve(without_kernel(Kernel()), params, 3, doses=huge, on_failure="flag")
    assert compiled.status.tolist() == numpy_run.status.tolist() == [0, 1, 0]
    assert np.isnan(compiled.states[:, 1]).all()
    assert np.isfinite(compiled.states[:, [0, 2]]).all()
    assert_same(compiled.states[:, [0, 2]], numpy_run.states[:, [0, 2]])


def test_nonnegative_states_never_leave_the_engine_negative() -> None:
    params = population(LANES + 1)
    states = solve(Kernel(), params, LANES + 1).states
    rows = [Kernel().states.index(s) for s in Kernel().nonnegative]
    assert (states[rows] >= 0.0).all()


def test_untreated_patients_stay_at_their_steady_state() -> None:
    states = solve(Kernel(), population(3), 3, doses=[]).states
    s0 = population(3)["kin"] / population(3)["kout"]
    assert np.allclose(states[2], s0[:, None], rtol=1e-12)
    assert (states[:2] == 0.0).all()


# --------------------------------------------------------------------------- refusals


def test_a_kernel_that_disagrees_with_the_remainder_is_refused() -> None:
    with pytest.raises(SpecError, match=r"remainder_kernel: .* differs from its remainder"):
        solve(WrongKernel(), PARAMS, 1)


def test_a_false_affine_declaration_is_refused() -> None:
    with pytest.raises(SpecError, match=r"remainder_affine = True: .* not affine in score"):
        solve(SquaredKernel(), PARAMS, 1)


def test_a_kernel_parameter_that_does_not_exist_is_named() -> None:
    with pytest.raises(SpecError, match=r"remainder_kernel_parameters = 'ec_50'"):
        solve(NoSuchParameter(), PARAMS, 1)


def test_a_kernel_that_is_not_compiled_is_refused() -> None:
    with pytest.raises(SpecError, match=r"remainder_kernel = .*must be a numba-compiled function"):
        solve(NotCompiled(), PARAMS, 1)


def test_the_lane_exponential_is_exp_to_rounding() -> None:
    from mscsim.engine.compiled import _exp_lanes

    rng = np.random.default_rng(5)
    u = np.r_[
        np.linspace(-0.5, 0.5, 1001),
        rng.uniform(-708.0, 709.78, 20_000),
        -0.5000001,
        0.7,
        -3.0,
        40.0,
        709.78,
    ]
    out = np.empty_like(u)
    _exp_lanes(u, out)
    assert np.allclose(out, np.exp(u), rtol=4e-16, atol=0.0)
    special = np.array([0.0, -800.0, -708.5, 710.0, np.inf, -np.inf, np.nan])
    got = np.empty_like(special)
    _exp_lanes(special, got)
    assert got[0] == 1.0 and got[1] == 0.0 and got[2] == 0.0  # below e^-708: 0
    assert got[3] == np.inf and got[4] == np.inf and got[5] == 0.0 and np.isnan(got[6])
    # a lane's bits do not depend on its neighbours
    order = rng.permutation(u.size)
    shuffled = np.empty_like(u)
    _exp_lanes(u[order], shuffled)
    assert np.array_equal(shuffled, out[order])


THREADS = """
from concurrent.futures import ThreadPoolExecutor
import multiprocessing as mp
import numpy as np
from tests.engine.test_compiled import LANES, Kernel, population, solve
params = population(LANES + 3)
alone = solve(Kernel(), params, LANES + 3).states
with ThreadPoolExecutor(4) as pool:
    runs = list(pool.map(lambda _: solve(Kernel(), params, LANES + 3).states, range(8)))
assert all(np.array_equal(r, alone) for r in runs)

def child(queue):
    queue.put(np.array_equal(solve(Kernel(), params, LANES + 3).states, alone))

queue = mp.get_context("fork").Queue()
forked = mp.get_context("fork").Process(target=child, args=(queue,))
forked.start()
forked.join(300)
assert forked.exitcode == 0, forked.exitcode
assert queue.get(timeout=5)
print("ok")
"""


def test_runs_from_several_threads_agree_and_a_forked_child_runs_too() -> None:
    # Compiled runs started from several threads (a threaded Dask scheduler) take
    # turns and agree; a process that ran one and then forks (multiprocessing's default
    # on Linux) has a child that runs one too. Numba's OpenMP threading layer would
    # kill that child: the runs use threads of their own.
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", THREADS], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


# --------------------------------------------------------------------------- review cases


def test_a_panel_whose_end_overflows_is_halved_not_flagged() -> None:
    # A fast driven state (kout 100/day): e^{-Lambda} overflows on the long panels.
    params = {"kout": np.array([50.0, 100.0])}
    dose = [ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([2.0]))]
    compiled = solve(OnlyDrivenKernel(), params, 2, doses=dose)
    numpy_run = solve(without_kernel(OnlyDrivenKernel()), params, 2, doses=dose)
    assert compiled.status.tolist() == [0, 0]
    assert compiled.n_steps == numpy_run.n_steps
    assert_same(compiled.states, numpy_run.states)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (WrongKernel(), "differs from its remainder"),
        (SquaredKernel(), "not affine in score"),
    ],
)
def test_the_kernel_is_checked_where_the_drivers_are_not_zero(
    model: AffineResponse, message: str
) -> None:
    # One depot dose at 0: the central amount the remainder reads is 0 at the start.
    dose = [ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([5.0]))]
    with pytest.raises(SpecError, match=message):
        solve(model, PARAMS, 1, doses=dose)


@pytest.mark.parametrize(
    ("times", "dose_days"),
    [([0.0], [0.0]), ([3.0], []), (list(range(6)), [5.0])],
    ids=["one-output", "one-output-untreated", "dose-at-the-last-output"],
)
def test_stretches_without_panels(times: list[float], dose_days: list[float]) -> None:
    doses = [ResolvedDose(t, Route.INTRAMUSCULAR, np.array([5.0])) for t in dose_days]
    kw = {"doses": doses, "times_day": np.array(times)}
    compiled = solve(Kernel(), PARAMS, 1, **kw)
    numpy_run = solve(without_kernel(Kernel()), PARAMS, 1, **kw)
    assert_same(compiled.states, numpy_run.states)
    assert compiled.states[2, 0, -1] == pytest.approx(40.0, rel=1e-12)  # not moved yet


def test_an_output_just_after_a_dose_merged_with_it_is_written() -> None:
    # A dose within the schedule's time tolerance before the last output.
    times = np.arange(0.0, 4.0)
    near = [DOSES[0], ResolvedDose(3.0 - 5e-10, Route.INTRAMUSCULAR, np.array([5.0]))]
    at = [DOSES[0], ResolvedDose(3.0, Route.INTRAMUSCULAR, np.array([5.0]))]
    for model in (Kernel(), without_kernel(Kernel())):
        merged = solve(model, PARAMS, 1, doses=near, times_day=times).states
        exact = solve(model, PARAMS, 1, doses=at, times_day=times).states
        # 5e-10 d more of absorption at the end: within 1e-6 of each state's peak
        assert_same(merged, exact, tol=1e-6)


def test_a_kernel_that_raises_is_refused_in_one_line() -> None:
    @njit
    def raises(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
        raise ValueError("boom")

    model = type("Raises", (AffineResponse,), {"remainder_kernel": staticmethod(raises)})()
    with pytest.raises(SpecError, match=r"kernel failed \(ValueError: boom\)") as caught:
        solve(model, PARAMS, 1)
    assert "\n" not in str(caught.value)


def test_the_kernel_check_judges_tiny_values_against_the_rows_largest() -> None:
    from mscsim.engine.driven import KERNEL_CHECK_FLOOR, refuse_unless_same

    model = Kernel()
    want = np.array([[0.05, 1e-3, 1e-12, 1e-19, np.nan]])
    # Last-bit differences made large by cancellation, where the row is tiny: accepted.
    near = want * (1.0 + np.array([0.0, 1e-12, 1e-7, 1e-3, 0.0]))
    refuse_unless_same(model, want, near)
    # A kernel off by 1e-6 where the row is large, or at its floor share, is refused.
    for at in (0, 1):
        far = want.copy()
        far[0, at] *= 1.0 + 1e-6
        with pytest.raises(SpecError, match=r"differs from its remainder \(at 1 of 5 probes\)"):
            refuse_unless_same(model, want, far)
    floor = np.array([[1.0, 10 * KERNEL_CHECK_FLOOR]])
    with pytest.raises(SpecError, match="at 1 of 2 probes"):
        refuse_unless_same(model, floor, floor * np.array([[1.0, 1.0 + 1e-7]]))


def test_patients_in_scattered_columns_get_the_bits_of_patients_side_by_side() -> None:
    # A compiled run stores a block whose patients take consecutive columns a
    # slice at a time, and scatters the others (a group of a population): both
    # must write the same values to the same patients.
    from mscsim.engine.driven import driven_structure, integrate_driven
    from mscsim.engine.events import build_schedule
    from mscsim.engine.integrate import delivered_doses, initial_states, param_table

    model = HillKernel()
    n = LANES + 7
    params = param_table(population(n, seed=5, hill=np.array([2.0])), n)
    prepared = model.prepare(params)
    schedule = build_schedule(delivered_doses(DOSES, params), TIMES)
    y0 = initial_states(model, params, n)
    structure = driven_structure(model, prepared)
    assert structure is not None

    def run(columns: NDArray[np.intp], width: int) -> Array:
        out = np.full((TIMES.size, len(model.states), width), -1.0)
        integrate_driven(
            model, params, schedule, y0, structure, rtol=1e-7, atol=1e-12, into=(out, columns)
        )
        return out

    side_by_side = run(np.arange(n), n)
    scattered = np.random.default_rng(2).permutation(np.arange(0, 3 * n, 3))
    spread = run(scattered, 3 * n)
    assert np.array_equal(spread[:, :, scattered], side_by_side)
    untouched = np.setdiff1d(np.arange(3 * n), scattered)
    assert (spread[:, :, untouched] == -1.0).all()
