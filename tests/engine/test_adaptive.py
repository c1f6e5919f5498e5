"""The error-controlled fast engine: tolerance, order, structure, batches, failures."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp
from scipy.linalg import expm
from tests.engine.test_accuracy import StiffNonlinear

from mscsim import ResolvedDose, Route, simulate
from mscsim.engine import FastSolver
from mscsim.engine.adaptive import (
    _lapack_modes,
    _structured_modes,
    _triangular_blocks,
    fixed_steps,
    integrate_adaptive,
    phi_scalars,
    real_modes,
)
from mscsim.engine.events import build_schedule
from mscsim.models.base import Array, ModelBase, Params, full_rhs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class IndirectResponse(ModelBase):
    r"""A user model: a depot feeding a fast central compartment that drives a score.

    .. math::

        \dot D = -k_a D, \quad \dot C = k_a D - k_e C, \quad
        \dot S = k_{in} - k_{out} (1 + E_{max} C / (EC_{50} + C)) S

    Only the Emax term is nonlinear; ``D`` and ``C`` do not depend on ``S``.
    """

    name = "indirect_response"
    states = ("depot", "central", "score")
    nonnegative = ("depot", "central")
    parameters = ()
    output_names = ("central", "score")
    remainder_reads = ("central", "score")
    remainder_writes = ("score",)

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        ka, ke, kout = params["ka"], params["ke"], params["kout"]
        a = np.zeros((ka.size, 3, 3))
        a[:, 0, 0] = -ka
        a[:, 1, 0] = ka
        a[:, 1, 1] = -ke
        a[:, 2, 2] = -kout
        b = np.zeros((ka.size, 3))
        b[:, 2] = params["kin"]
        return a, b

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        c, s = y[1], y[2]
        out = np.zeros_like(y)
        out[2] = -params["kout"] * params["emax"] * c / (params["ec50"] + c) * s
        return out

    def dose_split(self, route: Route, params: Params) -> Array:
        return np.array([[1.0], [0.0], [0.0]])

    def initial_state(self, params: Params) -> Array:
        s0 = params["kin"] / params["kout"]
        return np.stack([np.zeros_like(s0), np.zeros_like(s0), s0])

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        return {"central": y[1], "score": y[2]}


PARAMS = {
    "ka": np.array([3.0]),
    "ke": np.array([40.0]),
    "kout": np.array([0.1]),
    "kin": np.array([4.0]),
    "emax": np.array([1.5]),
    "ec50": np.array([0.2]),
}
DOSES = [ResolvedDose(d, Route.INTRAMUSCULAR, np.array([5.0])) for d in (0.0, 10.0, 20.0)]
TIMES = np.arange(0.0, 41.0)


def reference(model: ModelBase, params: dict[str, Array], doses: list[ResolvedDose]) -> Array:
    """Radau at rtol 1e-12, dose by dose: states at ``TIMES``, shape (n_states, n_times)."""
    rhs = full_rhs(model, params)
    y = model.initial_state(params)[:, 0].astype(float)
    out = np.empty((len(model.states), TIMES.size))
    edges = sorted({d.time_day for d in doses if d.time_day > 0} | {float(TIMES[-1])})
    start = 0.0
    for stop in edges:
        for d in doses:
            if d.time_day == start:
                y = y + model.dose_split(d.route, params)[:, 0] * d.viable_cells[0]
        grid = TIMES[(TIMES >= start) & (TIMES <= stop)]
        sol = solve_ivp(
            lambda t, v: rhs(t, v[:, None])[:, 0],
            (start, stop),
            y,
            method="Radau",
            rtol=1e-12,
            atol=1e-14,
            t_eval=grid,
        )
        keep = (grid >= start) & ((grid < stop) | (stop == TIMES[-1]))
        out[:, np.searchsorted(TIMES, grid[keep])] = sol.y[:, keep]
        y = sol.y[:, -1]
        start = stop
    return out


def error(states: Array, ref: Array) -> float:
    """Largest error relative to each value, or to 1e-6 of that state's peak."""
    scale = np.maximum(np.abs(ref), 1e-6 * np.abs(ref).max(axis=1, keepdims=True))
    return float(np.max(np.abs(states - ref) / np.where(scale > 0, scale, 1.0)))


@pytest.fixture(scope="module")
def user_reference() -> Array:
    """Depot and central in closed form, the score by DOP853 at rtol 1e-13 given them.

    (Radau on the whole stiff system at rtol 1e-12 is off by 6e-9 on ``central``.)
    """
    ka, ke, kout, kin, emax, ec50 = (
        float(PARAMS[k][0]) for k in ("ka", "ke", "kout", "kin", "emax", "ec50")
    )
    amount = float(DOSES[0].viable_cells[0])
    starts = [d.time_day for d in DOSES]

    def depot(t: float) -> float:
        return sum(amount * math.exp(-ka * (t - s)) for s in starts if t >= s)

    def central(t: float) -> float:
        return sum(
            amount * ka / (ke - ka) * (math.exp(-ka * (t - s)) - math.exp(-ke * (t - s)))
            for s in starts
            if t >= s
        )

    def score_rhs(t: float, s: Array) -> list[float]:
        c = central(t)
        return [kin - kout * (1 + emax * c / (ec50 + c)) * s[0]]

    score = solve_ivp(
        score_rhs,
        (0, TIMES[-1]),
        [kin / kout],
        method="DOP853",
        rtol=1e-13,
        atol=1e-14,
        t_eval=TIMES,
        max_step=0.01,
    ).y[0]
    return np.stack([[depot(t) for t in TIMES], [central(t) for t in TIMES], score])


def run(solver: FastSolver, params: dict[str, Array] = PARAMS, n: int = 1) -> Array:
    result = simulate(
        IndirectResponse(), DOSES, times_day=TIMES, params=params, n_patients=n, solver=solver
    )
    return result.states


def test_phi_functions_match_their_integral_definition() -> None:
    z = np.array([-800.0, -30.0, -2.0, -0.49, -0.51, -1e-9, 0.0, 1e-7, 0.3, 2.0])
    e, p1, p2, p3 = phi_scalars(z)
    for k, value in enumerate((p1, p2, p3), start=1):
        expected = [
            quad(
                lambda th, zi=zi, k=k: (
                    math.exp(zi * (1 - th)) * th ** (k - 1) / math.factorial(k - 1)
                ),
                0.0,
                1.0,
                epsabs=0.0,
                epsrel=1e-13,
                limit=200,
            )[0]
            for zi in z
        ]
        np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_array_equal(e, np.exp(z))


@pytest.mark.parametrize("rtol", [1e-3, 1e-6, 1e-9])
def test_error_stays_within_a_small_multiple_of_rtol(rtol: float, user_reference: Array) -> None:
    states = run(FastSolver(rtol=rtol, atol=rtol * 1e-6))[:, 0]
    assert error(states, user_reference) <= 10 * rtol


def test_error_falls_as_rtol_is_tightened(user_reference: Array) -> None:
    errors = [
        error(run(FastSolver(rtol=r, atol=r * 1e-6))[:, 0], user_reference)
        for r in (1e-3, 1e-6, 1e-9)
    ]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[0] / errors[2] > 1e3, errors


# Slow absorption and a high EC50: no feature faster than the steps (asymptotic range).
SMOOTH = {**PARAMS, "ka": np.array([0.5]), "ke": np.array([2.0]), "ec50": np.array([5.0])}


@pytest.mark.parametrize(
    ("model", "params", "y0", "span"),
    [
        (StiffNonlinear(), {}, [0.0, 2.0], 4.0),
        (IndirectResponse(), SMOOTH, [5.0, 0.0, 40.0], 4.0),
    ],
    ids=["remainder_feeds_a_stiff_mode", "user_model"],
)
def test_observed_order_is_four_with_fixed_steps(
    model: ModelBase, params: dict[str, Array], y0: list[float], span: float
) -> None:
    # Krogstad's method keeps order 4 where the remainder feeds a stiff mode
    # (x relaxes at 200/day; an integrating-factor RK4 drops to order 1 there).
    start = np.array(y0)[:, None]
    rhs = full_rhs(model, params)
    exact = solve_ivp(
        lambda t, v: rhs(t, v[:, None])[:, 0],
        (0, span),
        start[:, 0],
        method="Radau",
        rtol=1e-13,
        atol=1e-15,
    ).y[:, -1]
    errors = [
        float(np.max(np.abs(fixed_steps(model, params, start, span, n)[:, 0] - exact)))
        for n in (8, 16, 32)
    ]
    orders = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert min(orders) > 3.5, (errors, orders)


def test_the_rise_after_each_dose_is_resolved() -> None:
    # Outputs every 15 minutes over the first day after a dose: the central peak
    # (within the first hours) and the score's fastest fall.
    times = np.arange(0.0, 1.0 + 1e-9, 1 / 96)
    doses = [ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([5.0]))]
    model = IndirectResponse()
    states = simulate(model, doses, times_day=times, params=PARAMS, solver=FastSolver()).states
    rhs = full_rhs(model, PARAMS)
    y0 = model.initial_state(PARAMS)[:, 0] + np.array([5.0, 0.0, 0.0])
    ref = solve_ivp(
        lambda t, v: rhs(t, v[:, None])[:, 0],
        (0.0, 1.0),
        y0,
        method="Radau",
        rtol=1e-12,
        atol=1e-14,
        t_eval=times,
    ).y
    peak = int(np.argmax(ref[1]))
    assert 0 < peak < 20  # the peak is within the first hours
    assert error(states[:, 0], ref) <= 1e-6


def test_one_way_structure_leaves_the_drivers_exact(user_reference: Array) -> None:
    # The depot and central compartment do not depend on the score: they follow
    # their exact exponential whatever the tolerance.
    states = run(FastSolver(rtol=1e-2, atol=1e-2))[:, 0]
    np.testing.assert_allclose(states[:2], user_reference[:2], rtol=1e-9, atol=1e-12)


def test_a_patient_gives_the_same_result_alone_or_in_any_batch() -> None:
    rng = np.random.default_rng(3)
    n = 9
    params = {k: v * np.exp(0.5 * rng.standard_normal(n)) for k, v in PARAMS.items()}
    whole = run(FastSolver(), params, n)
    for idx in (np.array([4]), np.array([8, 0, 5]), rng.permutation(n)):
        part = run(FastSolver(), {k: v[idx] for k, v in params.items()}, idx.size)
        np.testing.assert_allclose(part, whole[:, idx], rtol=1e-12, atol=0)


class Exploding(IndirectResponse):
    """The score grows as its own square when ``emax`` < 0: it blows up in finite time."""

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        out = np.zeros_like(y)
        out[2] = -params["emax"] * y[2] ** 2
        return out


def test_a_patient_that_blows_up_is_flagged_and_the_others_are_not() -> None:
    params = dict(PARAMS)
    params["emax"] = np.array([0.01, -1.0, 0.01])
    with np.errstate(over="ignore", invalid="ignore"):
        result = simulate(
            Exploding(),
            DOSES,
            times_day=TIMES,
            params=params,
            n_patients=3,
            solver=FastSolver(),
            on_failure="flag",
        )
    assert result.status.tolist() == [0, 1, 0]
    assert np.isfinite(result.states[:, [0, 2]]).all()


class Rotating(IndirectResponse):
    """A linear part with complex eigenvalues (two states rotating): no real modes."""

    nonnegative = ()

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        a, b = super().linear_system(params)
        a[:, 0, 1] = -50.0
        a[:, 1, 0] = 50.0
        return a, b


def test_a_matrix_without_real_modes_is_integrated_by_the_fixed_step_backend() -> None:
    model = Rotating()
    params = {**PARAMS, "emax": np.array([0.0])}
    schedule = build_schedule(DOSES, TIMES)
    y0 = model.initial_state(params).astype(float)
    run_ = integrate_adaptive(model, params, schedule, y0)
    assert run_.n_fallback == 1
    ref = reference(model, params, DOSES)
    worst = np.abs(run_.states[:, 0] - ref).max(axis=1)
    assert (worst <= 1e-6 * np.abs(ref).max(axis=1)).all(), worst


def test_nonnegative_states_never_leave_the_engine_negative() -> None:
    params = dict(PARAMS)
    params["ke"] = np.array([4000.0])  # very stiff, with rounding around 0 after the dose
    states = run(FastSolver(rtol=1e-3, atol=1e-3), params)
    assert (states[:2] >= 0).all()


# --------------------------------------------------------------------------- modes in closed form


def block_triangular(rng: np.random.Generator, size: int, sizes: tuple[int, ...]) -> Array:
    """Return ``size`` random matrices, block lower triangular (blocks ``sizes``) after a shuffle.

    Pairs are compartments exchanging cells (real, distinct roots); each block
    feeds some later states; the states are then shuffled.
    """
    n = sum(sizes)
    a = np.zeros((size, n, n))
    start = 0
    for s in sizes:
        rows = slice(start, start + s)
        a[:, rows, rows] = -rng.uniform(0.1, 10.0, (size, s, s)) * np.eye(s)
        if s == 2:
            a[:, start, start + 1] = rng.uniform(0.1, 5.0, size)
            a[:, start + 1, start] = rng.uniform(0.1, 5.0, size)
        later = n - start - s
        if later:
            feeds = rng.random((later, s)) < 0.6
            a[:, start + s :, rows] = feeds * rng.uniform(0.0, 3.0, (size, later, s))
        start += s
    order = rng.permutation(n)
    return np.ascontiguousarray(a[:, order][:, :, order])


def reconstruction_error(a: Array, lam: Array, v: Array, vinv: Array) -> Array:
    """Return ``|V diag(lam) V^-1 - A|`` over ``|A|`` (largest entries), per matrix."""
    rebuilt = np.einsum("pij,pj,pjk->pik", v, lam, vinv)
    out: Array = np.abs(rebuilt - a).max(axis=(1, 2)) / np.abs(a).max(axis=(1, 2))
    return out


@pytest.mark.parametrize("sizes", [(1,), (2,), (2, 1, 1, 1), (1, 2, 2, 1), (2, 2, 2), (1, 1, 1)])
def test_block_triangular_modes_rebuild_the_matrix_and_agree_with_lapack(
    sizes: tuple[int, ...],
) -> None:
    rng = np.random.default_rng(sum(sizes) * 10 + len(sizes))
    a = block_triangular(rng, 200, sizes)
    blocks = _triangular_blocks(a[0] != 0.0)
    assert blocks is not None
    served = _structured_modes(a, blocks)[-1]
    assert served.mean() > 0.9  # nearly equal eigenvalues go to LAPACK
    lam, v, vinv, ok = real_modes(a)
    lam_ref, _, _, ok_ref = _lapack_modes(a)
    assert ok.tolist() == ok_ref.tolist()
    # Backward stable: the error is rounding times V's condition number (as LAPACK's).
    bound = 16 * np.finfo(float).eps * np.linalg.cond(v[ok], "fro")
    assert (reconstruction_error(a[ok], lam[ok], v[ok], vinv[ok]) <= bound).all()
    np.testing.assert_allclose(
        np.einsum("pij,pjk->pik", vinv, v)[ok],
        np.broadcast_to(np.eye(a.shape[1]), v[ok].shape),
        atol=1e-10,
    )
    np.testing.assert_allclose(np.linalg.norm(v[ok], axis=1), 1.0, rtol=1e-14)
    scale = np.abs(lam_ref).max(axis=1, keepdims=True)
    np.testing.assert_allclose(
        np.sort(lam, axis=1), np.sort(lam_ref, axis=1), rtol=0, atol=1e-12 * scale.max()
    )


def test_close_eigenvalues_in_a_lopsided_pair_keep_v_inverse_the_inverse() -> None:
    # A pair with nearly equal rates and a very lopsided exchange: the left
    # eigenvectors, each right to rounding, left V V^-1 2e-3 from I (a review).
    rng = np.random.default_rng(11)
    size = 20_000
    p = -(10 ** rng.uniform(-2, 2, size))
    a = np.zeros((size, 2, 2))
    a[:, 0, 0] = p
    a[:, 1, 1] = p * (1 + 10 ** rng.uniform(-6, -1, size))
    a[:, 0, 1] = np.abs(p) * 10 ** rng.uniform(-9, 0, size)
    a[:, 1, 0] = np.abs(p) * 10 ** rng.uniform(-9, 0, size)
    pair_sink = np.array(
        [
            [-1.773474e-01, 2.410794e-05, 0.0],
            [1.094396e-09, -1.773476e-01, 0.0],
            [1.980728e-01, 2.292663e-03, -1.773465e-01],
        ]
    )
    for batch in (a, pair_sink[None]):
        lam, v, vinv, ok = real_modes(batch)
        assert ok.all()
        eye = np.eye(batch.shape[1])
        residual = np.abs(v @ vinv - eye).max(axis=(1, 2))
        cond = np.linalg.norm(v, axis=(1, 2)) * np.linalg.norm(vinv, axis=(1, 2))
        assert (residual <= 64 * np.finfo(float).eps * cond).all()
    exact = expm(10.0 * pair_sink)
    modal = v[0] @ np.diag(np.exp(10.0 * lam[0])) @ vinv[0]
    assert np.abs(modal - exact).max() <= 1e-8 * np.abs(exact).max()


def test_an_empty_batch_has_no_modes() -> None:
    lam, v, vinv, ok = real_modes(np.zeros((0, 3, 3)))
    assert lam.shape == (0, 3) and v.shape == vinv.shape == (0, 3, 3) and ok.shape == (0,)


def test_the_benchmark_kinetics_take_the_closed_form() -> None:
    # Lung and blood exchange cells; blood feeds liver/spleen and target; all secrete the factor.
    rng = np.random.default_rng(5)
    size = 500
    lung, blood, organ, target, factor = range(5)

    def rate(lo: float, hi: float) -> Array:
        return rng.uniform(lo, hi, size)

    a = np.zeros((size, 5, 5))
    a[:, lung, lung], a[:, lung, blood] = -rate(500, 1500), rate(1, 20)
    a[:, blood, lung], a[:, blood, blood] = rate(50, 150), -rate(20, 60)
    a[:, organ, blood], a[:, organ, organ] = rate(1, 20), -rate(0.5, 2)
    a[:, target, blood], a[:, target, target] = rate(0.1, 2), -rate(0.1, 1)
    a[:, factor, :4] = rate(0.01, 1)[:, None]
    a[:, factor, factor] = -rate(0.1, 3)
    blocks = _triangular_blocks(a[0] != 0.0)
    assert blocks is not None and [b.tolist() for b in blocks] == [[0, 1], [2], [3], [4]]
    lam, v, vinv, ok = real_modes(a)
    assert _structured_modes(a, blocks)[-1].mean() > 0.95
    assert ok.tolist() == _lapack_modes(a)[3].tolist()
    assert (reconstruction_error(a[ok], lam[ok], v[ok], vinv[ok]) < 1e-13).all()


def test_matrices_the_closed_form_cannot_take_go_to_lapack_unchanged() -> None:
    pair = np.array([[-1.0, 2.0, 0.0], [-3.0, -1.5, 0.0], [1.0, 1.0, -0.7]])  # complex roots
    equal = np.array([[-1.0, 0.0, 0.0], [0.5, -2.0, 0.0], [0.5, 0.0, -2.0]])  # equal rates
    cycle = np.array([[-1.0, 0.0, 0.3], [0.5, -2.0, 0.0], [0.0, 0.4, -3.0]])  # 3-state cycle
    for a in (pair, equal):
        blocks = _triangular_blocks(a != 0.0)
        assert blocks is not None
        assert not _structured_modes(a[None], blocks)[-1][0]
    assert _triangular_blocks(cycle != 0.0) is None
    batch = np.stack([pair, equal, cycle, equal])
    got, want = real_modes(batch), _lapack_modes(batch)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    assert got[3].tolist() == [False, True, True, True]
    lam, v, vinv, _ = got
    assert (reconstruction_error(batch[1:], lam[1:], v[1:], vinv[1:]) < 1e-14).all()


def test_a_matrix_gets_the_same_modes_alone_or_in_a_batch_of_other_patterns() -> None:
    rng = np.random.default_rng(8)
    a = np.concatenate(
        [block_triangular(rng, 20, (2, 1, 1, 1)), block_triangular(rng, 20, (1, 2, 2))]
    )
    a = a[rng.permutation(a.shape[0])]
    whole = real_modes(a)
    for i in (0, 7, 39):
        alone = real_modes(a[i : i + 1])
        for w, one in zip(whole, alone, strict=True):
            np.testing.assert_array_equal(w[i], one[0])


def test_a_singular_eigenvector_matrix_is_refused_and_the_others_kept() -> None:
    # A defective matrix (a Jordan block) has no basis of eigenvectors.
    jordan = np.array([[-1.0, 1.0], [0.0, -1.0]])
    fine = np.array([[-1.0, 0.0], [1.0, -2.0]])
    lam, v, vinv, ok = real_modes(np.stack([fine, jordan, fine]))
    assert ok.tolist() == [True, False, True]
    np.testing.assert_array_equal(v[1], np.eye(2))
    np.testing.assert_array_equal(vinv[1], np.eye(2))
    assert (reconstruction_error(fine[None], lam[:1], v[:1], vinv[:1]) < 1e-15).all()


def test_the_condition_number_of_a_batch_with_a_singular_matrix_is_numpys() -> None:
    from mscsim.engine.adaptive import _condition

    v = np.stack(
        [np.eye(3), np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]]), 2 * np.eye(3)]
    )
    cond, vinv = _condition(v)
    np.testing.assert_array_equal(cond, np.linalg.cond(v, "fro"))
    assert cond[1] == np.inf
    np.testing.assert_array_equal(vinv[[0, 2]], np.linalg.inv(v[[0, 2]]))
