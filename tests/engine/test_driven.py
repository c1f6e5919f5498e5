"""The driven backend: exact drivers and a state affine in itself by Gauss quadrature."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from numpy.polynomial import legendre
from scipy.integrate import solve_ivp
from tests.engine.test_adaptive import (
    DOSES,
    PARAMS,
    SMOOTH,
    TIMES,
    IndirectResponse,
    Rotating,
    error,
    reference,
    user_reference,  # noqa: F401 (a fixture)
)

import mscsim.engine.driven as driven
from mscsim import ResolvedDose, Route, simulate
from mscsim.engine import FastSolver, ScipySolver
from mscsim.engine.driven import _panels, _rule, driven_structure
from mscsim.errors import SpecError
from mscsim.models.base import Array, Params, full_rhs


class AffineResponse(IndirectResponse):
    """The indirect-response user model, declaring its remainder affine in the score."""

    remainder_affine = True


class CoupledResponse(AffineResponse):
    """The score also rises linearly with the central amount (``A`` reads a driver)."""

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        a, b = super().linear_system(params)
        a[:, 2, 1] = 0.3
        return a, b


class FeedsBack(AffineResponse):
    """The score feeds the central compartment: not one-way."""

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        a, b = super().linear_system(params)
        a[:, 1, 2] = 0.002
        return a, b


class Squared(AffineResponse):
    """Declares an affine remainder but loses the score as its square."""

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        out = np.zeros_like(y)
        out[2] = -params["kout"] * y[1] / (params["ec50"] + y[1]) * y[2] ** 2
        return out


class RotatingAffine(Rotating):
    """Drivers with complex eigenvalues (no real modes), the score affine."""

    remainder_affine = True


def run(
    model: IndirectResponse, solver: FastSolver | ScipySolver, params: Params = PARAMS, n: int = 1
) -> Array:
    return simulate(
        model, DOSES, times_day=TIMES, params=params, n_patients=n, solver=solver
    ).states


def test_the_rule_integrates_polynomials_exactly() -> None:
    rule = _rule(6)
    theta = np.array([0.0, 0.13, 0.5, 0.77, 1.0])
    for degree in range(6):  # the interpolant reproduces degree < m
        values = rule.theta[:, None] ** degree
        np.testing.assert_allclose(
            rule.rows(theta) @ values[:, 0], theta ** (degree + 1) / (degree + 1), atol=1e-14
        )
        np.testing.assert_allclose(
            rule.q @ values[:, 0], rule.theta ** (degree + 1) / (degree + 1), atol=1e-14
        )
    for degree in range(12):  # the Gauss sum is exact up to degree 2m - 1
        assert rule.weight @ rule.theta**degree == pytest.approx(1 / (degree + 1), abs=1e-14)
    # The tail sees the next Legendre term of a polynomial of degree m - 1.
    top = legendre.legval(2 * rule.theta - 1, [0, 0, 0, 0, 0, 1.0])
    assert rule.tail(top[:, None])[0][0] == pytest.approx(1.0)
    assert rule.tail(rule.theta[:, None] ** 2)[0][0] == pytest.approx(0.0, abs=1e-14)


def test_panels_grow_from_the_first_and_end_at_the_segment() -> None:
    panels = _panels(3.0, 50.0)
    starts = np.array([s for s, _ in panels])
    widths = np.array([w for _, w in panels])
    assert starts[0] == 3.0 and widths[0] == driven.FIRST_PANEL_DAY
    assert starts[-1] + widths[-1] == pytest.approx(50.0)
    np.testing.assert_allclose(starts[1:], (starts + widths)[:-1])
    assert widths.max() <= driven.MAX_PANEL_DAY


def test_the_structure_is_found_only_where_it_holds() -> None:
    for model, expected in (
        (AffineResponse(), True),
        (IndirectResponse(), False),  # not declared
        (FeedsBack(), False),  # the score feeds back
    ):
        prepared = model.prepare(PARAMS)
        assert (driven_structure(model, prepared) is not None) is expected


# A slow driver and a steep, strong effect: the first panels are far from enough,
# so the error depends on the error control (without it the score is off by 1e27).
SHARP = {
    **PARAMS,
    "ka": np.array([0.3]),
    "ke": np.array([0.5]),
    "ec50": np.array([0.01]),
    "emax": np.array([20.0]),
    "kout": np.array([0.5]),
    "kin": np.array([20.0]),
}


@pytest.fixture(scope="module")
def sharp_reference() -> Array:
    solver = ScipySolver(rtol=1e-13, atol=1e-16)
    return run(AffineResponse(), solver, SHARP)[:, 0]


@pytest.mark.parametrize("rtol", [1e-3, 1e-6, 1e-9])
def test_error_stays_within_a_small_multiple_of_rtol(rtol: float, sharp_reference: Array) -> None:
    states = run(AffineResponse(), FastSolver(rtol=rtol, atol=rtol * 1e-6), SHARP)[:, 0]
    assert error(states, sharp_reference) <= 10 * rtol


def test_error_falls_as_rtol_is_tightened(sharp_reference: Array) -> None:
    errors = [
        error(
            run(AffineResponse(), FastSolver(rtol=r, atol=r * 1e-6), SHARP)[:, 0], sharp_reference
        )
        for r in (1e-3, 1e-6, 1e-9)
    ]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[0] / errors[2] > 1e3, errors


@pytest.mark.parametrize("nodes", [3, 4])
def test_observed_order_is_twice_the_nodes_at_panel_ends(
    nodes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Equal panels of h, no refinement: the ends are Gauss sums of order 2m.
    model = AffineResponse()
    times = np.arange(0.0, 4.0 + 1e-9, 0.5)
    dose = [ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([5.0]))]
    rhs = full_rhs(model, SMOOTH)
    y0 = model.initial_state(SMOOTH)[:, 0] + np.array([5.0, 0.0, 0.0])
    exact = solve_ivp(
        lambda t, v: rhs(t, v[:, None])[:, 0],
        (0.0, 4.0),
        y0,
        method="Radau",
        rtol=1e-13,
        atol=1e-15,
        t_eval=times,
    ).y[2]
    monkeypatch.setattr(driven, "NODES", nodes)
    monkeypatch.setattr(driven, "MAX_DEPTH", 0)
    monkeypatch.setattr(driven, "GROWTH", 1.0)
    errors = []
    for h in (0.5, 0.25, 0.125):
        monkeypatch.setattr(driven, "FIRST_PANEL_DAY", h)
        monkeypatch.setattr(driven, "MAX_PANEL_DAY", h)
        states = simulate(
            model, dose, times_day=times, params=SMOOTH, solver=FastSolver(rtol=0.99, atol=0.99)
        ).states
        errors.append(float(np.abs(states[2, 0] - exact).max()))
    orders = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert min(orders) > 2 * nodes - 1, (errors, orders)


def test_the_drivers_are_exact_at_any_tolerance(user_reference: Array) -> None:  # noqa: F811
    states = run(AffineResponse(), FastSolver(rtol=1e-2, atol=1e-2))[:, 0]
    np.testing.assert_allclose(states[:2], user_reference[:2], rtol=1e-9, atol=1e-12)


def test_the_rise_after_a_dose_is_resolved_and_dose_times_read_after_the_dose() -> None:
    # Outputs every 15 minutes, and on the panel edges (first panel * (2^k - 1) days).
    edges = driven.FIRST_PANEL_DAY * (2.0 ** np.arange(1, 8) - 1)
    times = np.unique(np.r_[np.arange(0.0, 1.0 + 1e-9, 1 / 96), edges[edges < 1.0]])
    doses = [
        ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([5.0])),
        ResolvedDose(0.5, Route.INTRAMUSCULAR, np.array([2.0])),
    ]
    model = AffineResponse()
    states = simulate(model, doses, times_day=times, params=PARAMS, solver=FastSolver()).states
    ref = ScipySolver(rtol=1e-12, atol=1e-14)
    expected = simulate(model, doses, times_day=times, params=PARAMS, solver=ref).states
    assert np.isfinite(states).all()
    assert error(states[:, 0], expected[:, 0]) <= 1e-6
    at_dose = int(np.flatnonzero(times == 0.5)[0])
    assert states[0, 0, at_dose] > states[0, 0, at_dose - 1] + 1.9  # after the second dose


def test_infusions_and_a_score_that_reads_a_driver_linearly() -> None:
    model = CoupledResponse()
    doses = [
        ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([5.0]), duration_day=0.25),
        ResolvedDose(6.0, Route.INTRAMUSCULAR, np.array([3.0])),
    ]
    times = np.arange(0.0, 15.0 + 1e-9, 0.5)
    fast = simulate(model, doses, times_day=times, params=PARAMS, solver=FastSolver())
    ref = simulate(
        model, doses, times_day=times, params=PARAMS, solver=ScipySolver(rtol=1e-12, atol=1e-14)
    )
    assert error(fast.states[:, 0], ref.states[:, 0]) <= 1e-6


def test_a_model_that_is_not_one_way_uses_the_adaptive_backend() -> None:
    model = FeedsBack()
    fast = run(model, FastSolver())[:, 0]
    assert error(fast, reference(model, PARAMS, DOSES)) <= 1e-6


def test_a_false_affine_declaration_is_refused() -> None:
    with pytest.raises(SpecError, match=r"remainder_affine = True: .* not affine in score"):
        run(Squared(), FastSolver())


def test_patients_without_real_driver_modes_go_to_the_adaptive_backend() -> None:
    model = RotatingAffine()
    params = {**PARAMS, "emax": np.array([0.0])}
    states = run(model, FastSolver(), params)[:, 0]
    ref = reference(model, params, DOSES)
    worst = np.abs(states - ref).max(axis=1)
    assert (worst <= 1e-6 * np.abs(ref).max(axis=1)).all(), worst


def test_a_patient_gives_the_same_result_alone_or_in_any_batch() -> None:
    rng = np.random.default_rng(3)
    n = 9
    params = {k: v * np.exp(0.5 * rng.standard_normal(n)) for k, v in PARAMS.items()}
    whole = run(AffineResponse(), FastSolver(), params, n)
    for idx in (np.array([4]), np.array([8, 0, 5]), rng.permutation(n)):
        part = run(AffineResponse(), FastSolver(), {k: v[idx] for k, v in params.items()}, idx.size)
        np.testing.assert_allclose(part, whole[:, idx], rtol=1e-12, atol=0)


def test_a_patient_failing_the_error_test_is_flagged_and_the_others_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An EC50 of 1e-9 makes the effect a step at each dose: no polynomial fits it,
    # so that patient halves a panel 3 times at rtol 1e-6; the others need no halving.
    monkeypatch.setattr(driven, "MAX_DEPTH", 2)
    params = dict(PARAMS)
    params["ec50"] = np.array([0.2, 1e-9, 0.2])
    result = simulate(
        AffineResponse(),
        DOSES,
        times_day=TIMES,
        params=params,
        n_patients=3,
        solver=FastSolver(rtol=1e-6, atol=1e-12),
        on_failure="flag",
    )
    assert result.status.tolist() == [0, 1, 0]
    assert np.isfinite(result.states[:, [0, 2]]).all()


def test_nonnegative_states_never_leave_the_engine_negative() -> None:
    params = dict(PARAMS)
    params["ke"] = np.array([4000.0])
    states = run(AffineResponse(), FastSolver(rtol=1e-3, atol=1e-3), params)
    assert (states[:2] >= 0).all()


# --------------------------------------------------------------------------- review cases


class HillResponse(AffineResponse):
    """A Hill effect of the central amount, ``C^h / (EC50^h + C^h)``: steep for large ``h``."""

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        c = np.maximum(y[1], 0.0) ** params["hill"]
        out = np.zeros_like(y)
        out[2] = (
            -params["kout"] * params["emax"] * c / (params["ec50"] ** params["hill"] + c) * y[2]
        )
        return out


class OnlyDriven(AffineResponse):
    """One state, driven by time only: ``x' = -k x + 1 + sin(t) x / 2``."""

    states = ("score",)
    nonnegative = ()
    output_names = ("score",)
    remainder_reads = ("score",)
    remainder_writes = ("score",)

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        k = params["kout"]
        return -k[:, None, None] * np.ones((k.size, 1, 1)), np.ones((k.size, 1))

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        return 0.5 * np.sin(t_day) * y

    def dose_split(self, route: Route, params: Params) -> Array:
        return np.array([[1.0]])

    def initial_state(self, params: Params) -> Array:
        return np.ones((1, params["kout"].size))

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        return {"score": y[0]}


TIGHT = ScipySolver(rtol=1e-12, atol=1e-14)


def test_outputs_on_panel_edges_are_all_written(monkeypatch: pytest.MonkeyPatch) -> None:
    # With a first panel of 0.02 d, a dose at 0.1 d puts panel edges at
    # 0.1 + 0.02 (2^k - 1): 0.24 is one, and 0.1 + 0.14 + 0.08 rounds below it.
    # Every output must still be written.
    monkeypatch.setattr(driven, "FIRST_PANEL_DAY", 0.02)
    times = np.arange(0, 301) * 0.01
    doses = [ResolvedDose(0.1, Route.INTRAMUSCULAR, np.array([5.0]))]
    model = AffineResponse()
    fast = simulate(model, doses, times_day=times, params=PARAMS, solver=FastSolver()).states
    ref = simulate(model, doses, times_day=times, params=PARAMS, solver=TIGHT).states
    assert error(fast[:, 0], ref[:, 0]) <= 1e-6


def test_a_patient_with_a_nan_parameter_is_flagged_at_once() -> None:
    params = dict(PARAMS)
    params["emax"] = np.array([1.5, np.nan])
    result = simulate(
        AffineResponse(),
        DOSES,
        times_day=TIMES,
        params=params,
        n_patients=2,
        solver=FastSolver(),
        on_failure="flag",
    )
    assert result.status.tolist() == [0, 1]
    assert result.n_rhs_evals < 1000  # no halving of a panel that can never pass


def test_a_false_affine_declaration_is_refused_when_the_first_dose_comes_later() -> None:
    late = [ResolvedDose(1.0, Route.INTRAMUSCULAR, np.array([5.0]))]
    with pytest.raises(SpecError, match="not affine in score"):
        simulate(Squared(), late, times_day=TIMES, params=PARAMS, solver=FastSolver())


def test_a_model_whose_only_state_is_driven() -> None:
    model, params = OnlyDriven(), {"kout": np.array([0.3])}
    dose = [ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([2.0]))]
    fast = simulate(model, dose, times_day=TIMES, params=params, solver=FastSolver()).states
    ref = simulate(model, dose, times_day=TIMES, params=params, solver=TIGHT).states
    assert error(fast[:, 0], ref[:, 0]) <= 1e-6


def test_per_patient_doses_reach_the_patients_left_to_the_adaptive_backend() -> None:
    model = RotatingAffine()
    params = {k: np.repeat(v, 3) for k, v in {**PARAMS, "emax": np.array([0.0])}.items()}
    params["ka"] = np.array([3.0, 3.0, 1.0])
    amounts = np.array([1.0, 5.0, 20.0])
    doses = [ResolvedDose(d, Route.INTRAMUSCULAR, amounts) for d in (0.0, 10.0)]
    fast = simulate(model, doses, times_day=TIMES, params=params, n_patients=3, solver=FastSolver())
    assert fast.states[0, :, 0].tolist() == amounts.tolist()
    for i in range(3):
        one = {k: v[i : i + 1] for k, v in params.items()}
        dose_i = [ResolvedDose(d.time_day, d.route, d.viable_cells[i : i + 1]) for d in doses]
        ref = reference(model, one, dose_i)
        worst = np.abs(fast.states[:, i] - ref).max(axis=1)
        assert (worst <= 1e-6 * np.abs(ref).max(axis=1) + 1e-12).all(), worst


def test_an_effect_switched_on_before_the_first_node_is_resolved() -> None:
    # A Hill 12 effect completes its onset about 14 s after the dose, before the
    # first Gauss node of the first panel (34 s): the start of the panel is checked.
    params = {**PARAMS, "ka": np.array([2.0]), "ec50": np.array([6.4e-4])}
    params |= {"hill": np.array([12.0]), "emax": np.array([5.0])}
    doses = [ResolvedDose(t, Route.INTRAMUSCULAR, np.array([2.0])) for t in (0.0, 10.0)]
    times = np.arange(0.0, 21.0, 0.25)
    model = HillResponse()
    ref = simulate(model, doses, times_day=times, params=params, solver=TIGHT).states
    for rtol in (1e-5, 1e-7):
        states = simulate(
            model, doses, times_day=times, params=params, solver=FastSolver(rtol=rtol)
        ).states
        assert error(states[2:, 0], ref[2:, 0]) <= 10 * rtol


def test_a_user_model_without_the_optional_attribute_is_still_a_model() -> None:
    from mscsim.models.base import Model

    class Bare:
        name = "bare"
        states = ("a",)
        nonnegative = ("a",)
        parameters = ()
        output_names = ("a",)
        remainder_reads = ()
        remainder_writes = ()
        linear_below_switches = False

        def prepare(self, params: Params) -> Params: ...
        def linear_system(self, params: Params) -> tuple[Array, Array]: ...
        def remainder(self, t_day: float, y: Array, params: Params) -> Array: ...
        def is_linear(self, params: Params) -> bool: ...
        def switches(self, y: Array, params: Params) -> Array: ...
        def activity(self, y: Array, params: Params) -> Array: ...
        def initial_state(self, params: Params) -> Array: ...
        def dose_split(self, route: Route, params: Params) -> Array: ...
        def outputs(self, y: Array, params: Params) -> dict[str, Array]: ...

    assert isinstance(Bare(), Model)
