r"""Benchmark: a 6-state nonlinear user model, mscsim against a hand-vectorised NumPy baseline.

Not a test: it measures, checks agreement and prints. Run
``python bench/nonlinear.py [--n-patients 10000,100000] [--n-reference 20] [--rtol R] [--atol A]
[--json PATH]`` (``--json`` keeps the table for the README, as ``make bench`` does).

The model (:class:`SixStateModel`) is written as a user would write one, against
the public model contract only. Cells given intravenously go to the lung (share
``lung_fraction``) and to blood; ``F`` is a factor the cells secrete and ``S`` a
disease score:

.. math::

    \dot L &= -k_L L + a_L B, \qquad
    \dot B = r k_L L - k_B B, \qquad
    \dot H = a_H B - k_H H, \qquad
    \dot T = a_T B - k_T T, \\
    \dot F &= \sigma\,\bigl(T + s\,(L + B + H)\bigr) - k_F F, \\
    \dot S &= k_{out} S_0 - k_{out}\Bigl(1 + E_{max}\frac{F}{EC_{50} + F}\Bigr) S.

Lung cells leave at :math:`k_L = \ln 2 / t_{1/2,L}`, a share ``r`` of them back
into blood (the rest die); blood cells leave at :math:`k_B` (half-life about a
minute) and arrest in the lung, the liver/spleen or the target (shares
:math:`a_L, a_H, a_T` of :math:`k_B`) or die; liver/spleen and target cells die
at :math:`k_H, k_T`. Target cells secrete the factor at :math:`\sigma`, cells
elsewhere at a share ``s`` of it; the factor is lost at :math:`k_F`. The score
is an indirect response whose loss the factor stimulates (an Emax model): it
starts at its untreated steady state :math:`S_0`, falls while the factor acts
and returns to :math:`S_0` when the cells are gone. Everything but the Emax term
is linear (``A y + b``); the remainder is
:math:`-k_{out} E_{max} F S / (EC_{50} + F)`. The model declares it affine in
the score and also gives it as a numba kernel (:func:`score_remainder_kernel`),
so the fast engine runs its compiled driven backend (:mod:`mscsim.engine.compiled`).

The baseline (:func:`baseline_solve`) is what a skilled user writes by hand,
vectorised over patients: the five cell and factor states are linear and do not
depend on the score, so they are propagated exactly with per-patient matrix
exponentials (batched Taylor scaling and squaring, one exponential per step
length, each the square of the one for half its length); the score is integrated
by classical RK4 at 0.5 d, with the factor at the stage times taken from the
exact propagators of ``h/2`` and ``h``. After each dose the factor, and with it
the saturating effect, rises within minutes, so the first 0.5 d is taken in 18
steps growing from 1.4 min (:func:`graded_shares`); grading it in only 5 steps
(1/16, 1/16, 1/8, 1/4, 1/2 of it) left a score error near 5e-5 (measured).

The reference is ``scipy.integrate.solve_ivp`` (Radau, rtol 1e-10, see
``--reference-rtol``; atol 1e-9 rtol of each state's scale) of the full 6-state
right-hand side (the model's own :func:`~mscsim.models.base.full_rhs`), per
patient and dose interval. The error of a run is the largest, over patients,
times and outputs (the outputs are the states), of ``|x - ref|`` relative to
``|ref|`` or to 1e-6 of that output's peak for that patient, whichever is larger.

Patients: 30% log-normal variability (SD of the log 0.3, seeded) on the lung
and target half-lives, the factor half-life and the EC50; 4 IV boluses of 7e7
viable cells on days 0, 90, 180 and 270; outputs on days 0 to 365.

Target (issue): mscsim >= 2x faster per patient than the baseline at 1e4 and at
1e5 patients, both within 1e-6 of the reference. Timings are taken in one
process, alternating mscsim and the baseline chunk by chunk (chunks of 1e4
patients for both). Beside them, for information, the same model without its
kernel (:class:`SixStateNumPyModel`: the driven quadrature in NumPy), which is
what a model that gives only its NumPy ``remainder`` gets. The exit status is 1
when the target is missed or a target size was not run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import json
import math
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit
from scipy.integrate import solve_ivp

from mscsim import FastSolver, Parameter, ResolvedDose, Route, SpecError, simulate
from mscsim.analysis.metrics import worst_relative_error
from mscsim.io import atomic_path
from mscsim.models import ModelBase
from mscsim.models.base import Array, Params, full_rhs

MODEL = "six_state_bench"
LN2 = math.log(2.0)

DOSE_DAYS = (0.0, 90.0, 180.0, 270.0)
DOSE_CELLS = 7e7  # 1e6 viable cells/kg for 70 kg
TIMES_DAY = np.arange(0.0, 366.0)
VARIED = ("lung_half_life_days", "target_half_life_days", "factor_half_life_days", "factor_ec50_ng")
OMEGA = 0.3
TARGET_SIZES = (10_000, 100_000)
TARGET_RATIO = 2.0
TARGET_ERROR = 1e-6

BASELINE_STEP_DAY = 0.5
GRADING_LEVELS = 8
GRADING_STEPS_PER_LEVEL = 2


def graded_shares(levels: int, per_level: int) -> tuple[float, ...]:
    """Return the shares of a step taken in steps doubling every ``per_level`` steps.

    The first ``2**-levels`` of the step is taken in ``per_level`` equal steps,
    then each ``[2**-j, 2**-(j - 1)]`` in ``per_level`` equal steps. Every length
    is the step over a power of 2 (for ``per_level`` a power of 2), so each
    exponential is the square of the one for half its length.

    Examples
    --------
    >>> graded_shares(2, 1)
    (0.25, 0.25, 0.5)
    """
    shares = [2.0**-levels / per_level] * per_level
    for j in range(levels, 0, -1):
        shares += [2.0**-j / per_level] * per_level
    return tuple(shares)


GRADED_SHARES = graded_shares(GRADING_LEVELS, GRADING_STEPS_PER_LEVEL)


def _parameter(
    name: str,
    unit: str,
    description: str,
    value: float,
    plausible: tuple[float, float],
    allowed: tuple[float, float] = (0.0, math.inf),
) -> Parameter:
    """Declare a parameter of the benchmark model (illustrative values, evidence G)."""
    return Parameter(
        name=name,
        model=MODEL,
        unit=unit,
        description=description,
        value=value,
        plausible=plausible,
        allowed=allowed,
        min_exclusive=unit == "day",
        evidence="G",
        source="Benchmark illustration; cell and factor values as the built-in library's defaults.",
    )


FRACTION = (0.0, 1.0)
PARAMETERS = (
    _parameter(
        "lung_fraction",
        "fraction",
        "Share of an IV dose trapped in the lung on first pass",
        0.9,
        (0.5, 0.99),
        FRACTION,
    ),
    _parameter("lung_half_life_days", "day", "Half-life of lung-trapped cells", 1.0, (0.5, 2.0)),
    _parameter(
        "lung_release_fraction",
        "fraction",
        "Share of cells leaving the lung that re-enter blood",
        0.1,
        (0.0, 0.5),
        FRACTION,
    ),
    _parameter(
        "blood_half_life_days", "day", "Half-life of free cells in blood", 0.0007, (0.00007, 0.0035)
    ),
    _parameter(
        "blood_to_lung_fraction",
        "fraction",
        "Share of cells leaving blood that arrest in the lung",
        0.5,
        (0.1, 0.9),
        FRACTION,
    ),
    _parameter(
        "blood_to_liver_spleen_fraction",
        "fraction",
        "Share of cells leaving blood that arrest in liver/spleen",
        0.4,
        (0.1, 0.8),
        FRACTION,
    ),
    _parameter(
        "blood_to_target_fraction",
        "fraction",
        "Share of cells leaving blood that home to the target",
        0.02,
        (0.0005, 0.05),
        FRACTION,
    ),
    _parameter(
        "liver_spleen_half_life_days",
        "day",
        "Half-life of cells in liver and spleen",
        0.5,
        (0.1, 1.0),
    ),
    _parameter("target_half_life_days", "day", "Half-life of cells at the target", 2.0, (0.5, 7.0)),
    _parameter(
        "secretion_per_million_cells",
        "ng/10^6 cells/day",
        "Factor secreted by target cells",
        8.0,
        (0.4, 15.0),
    ),
    _parameter(
        "off_target_share",
        "fraction",
        "Share of the factor from lung, blood and liver/spleen cells acting at the target",
        0.1,
        (0.01, 0.5),
        FRACTION,
    ),
    _parameter(
        "factor_half_life_days", "day", "Half-life of the secreted factor", 0.0208, (0.00035, 1.0)
    ),
    _parameter("factor_ec50_ng", "ng", "Factor giving half the largest effect", 0.24, (0.024, 2.4)),
    _parameter(
        "effect_emax",
        "fold",
        "Largest stimulation of the score's loss by the factor",
        1.0,
        (0.3, 3.0),
    ),
    _parameter(
        "score_baseline", "points", "Untreated steady-state disease score", 40.0, (1.0, 100.0)
    ),
    _parameter(
        "score_half_life_days", "day", "Half-life of the score's turnover", 30.0, (7.0, 180.0)
    ),
)

LUNG, BLOOD, LIVER_SPLEEN, TARGET, FACTOR, SCORE = range(6)
N_LINEAR = 5  # cells and factor: linear, independent of the score


def rates(params: Params) -> dict[str, Array]:
    """Return the model's first-order rates (1/day) and secretion (ng/cell/day) from its parameters.

    Raises
    ------
    SpecError
        If the shares of cells leaving blood add up to more than 1.
    """
    arrest = (
        params["blood_to_lung_fraction"]
        + params["blood_to_liver_spleen_fraction"]
        + params["blood_to_target_fraction"]
    )
    if np.any(arrest > 1.0):
        raise SpecError(
            f"blood_to_*_fraction = {float(np.max(arrest)):g} in total: must add up to <= 1"
        )
    lung_exit = LN2 / params["lung_half_life_days"]
    blood_exit = LN2 / params["blood_half_life_days"]
    secretion = params["secretion_per_million_cells"] * 1e-6
    score_loss = LN2 / params["score_half_life_days"]
    return {
        "lung_exit": lung_exit,
        "lung_release": params["lung_release_fraction"] * lung_exit,
        "blood_exit": blood_exit,
        "blood_to_lung": params["blood_to_lung_fraction"] * blood_exit,
        "blood_to_liver_spleen": params["blood_to_liver_spleen_fraction"] * blood_exit,
        "blood_to_target": params["blood_to_target_fraction"] * blood_exit,
        "liver_spleen_death": LN2 / params["liver_spleen_half_life_days"],
        "target_death": LN2 / params["target_half_life_days"],
        "secretion": secretion,
        "off_target_secretion": params["off_target_share"] * secretion,
        "factor_loss": LN2 / params["factor_half_life_days"],
        "score_loss": score_loss,
        "score_input": score_loss * params["score_baseline"],
    }


def cell_factor_matrix(r: dict[str, Array]) -> Array:
    """Return the linear system of the cell and factor states, shape ``(P, 5, 5)``."""
    size = np.broadcast(*r.values()).shape[0]
    a = np.zeros((size, N_LINEAR, N_LINEAR))
    a[:, LUNG, LUNG] = -r["lung_exit"]
    a[:, LUNG, BLOOD] = r["blood_to_lung"]
    a[:, BLOOD, LUNG] = r["lung_release"]
    a[:, BLOOD, BLOOD] = -r["blood_exit"]
    a[:, LIVER_SPLEEN, BLOOD] = r["blood_to_liver_spleen"]
    a[:, LIVER_SPLEEN, LIVER_SPLEEN] = -r["liver_spleen_death"]
    a[:, TARGET, BLOOD] = r["blood_to_target"]
    a[:, TARGET, TARGET] = -r["target_death"]
    for site in (LUNG, BLOOD, LIVER_SPLEEN):
        a[:, FACTOR, site] = r["off_target_secretion"]
    a[:, FACTOR, TARGET] = r["secretion"]
    a[:, FACTOR, FACTOR] = -r["factor_loss"]
    return a


def stimulation(factor: Array, params: Params) -> Array:
    """Return the factor's stimulation of the score's loss, ``Emax F / (EC50 + F)``."""
    out: Array = params["effect_emax"] * factor / (params["factor_ec50_ng"] + factor)
    return out


@njit(cache=True, error_model="numpy")
def score_remainder_kernel(t: Array, y: Array, p: Array, out: Array) -> None:  # pragma: no cover
    """:meth:`SixStateModel.remainder` compiled, for one patient at the times ``t``.

    Column ``j`` is one patient at ``t[j]``: ``p[i, j]`` is its value of the ``i``-th of
    :attr:`SixStateModel.remainder_kernel_parameters`.
    """
    for j in range(t.size):
        factor = y[FACTOR, j]
        out[SCORE, j] = -p[0, j] * p[1, j] * factor / (p[2, j] + factor) * y[SCORE, j]


class SixStateModel(ModelBase):
    """Cells in lung, blood, liver/spleen and target, a secreted factor and a disease score.

    A user model implementing :class:`mscsim.Model`; see the module docstring for
    its equations.
    """

    name = MODEL
    states: tuple[str, ...] = ("lung", "blood", "liver_spleen", "target", "factor", "score")
    nonnegative: tuple[str, ...] = states
    parameters: tuple[Parameter, ...] = PARAMETERS
    output_names: tuple[str, ...] = (
        "cells_lung",
        "cells_blood",
        "cells_liver_spleen",
        "cells_target",
        "factor_ng",
        "score",
    )
    remainder_reads: tuple[str, ...] = ("factor", "score")
    remainder_writes: tuple[str, ...] = ("score",)
    remainder_affine = True  # the Emax term is proportional to the score
    remainder_kernel = staticmethod(score_remainder_kernel)
    remainder_kernel_parameters: tuple[str, ...] = (
        "rate_score_loss",
        "effect_emax",
        "factor_ec50_ng",
    )

    def prepare(self, params: Params) -> Params:
        """Add the rates (:func:`rates`) to the parameters, once per run."""
        return {**params, **{f"rate_{k}": v for k, v in rates(params).items()}}

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        """Return ``A`` (cells, factor, the score's turnover) and ``b`` (the score's input)."""
        r = {k[len("rate_") :]: v for k, v in params.items() if k.startswith("rate_")}
        cells = cell_factor_matrix(r)
        size = cells.shape[0]
        a = np.zeros((size, 6, 6))
        a[:, :N_LINEAR, :N_LINEAR] = cells
        a[:, SCORE, SCORE] = -r["score_loss"]
        b = np.zeros((size, 6))
        b[:, SCORE] = r["score_input"]
        return a, b

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        """Return the Emax term: the factor's extra loss of the score."""
        out = np.zeros_like(y)
        out[SCORE] = -params["rate_score_loss"] * stimulation(y[FACTOR], params) * y[SCORE]
        return out

    def initial_state(self, params: Params) -> Array:
        """No cells and no factor; the score at its untreated steady state."""
        y0 = np.zeros((6, np.shape(params["score_baseline"])[0]))
        y0[SCORE] = params["score_baseline"]
        return y0

    def dose_split(self, route: Route, params: Params) -> Array:
        """Intravenous cells go to the lung (``lung_fraction``) and to blood."""
        if Route(route) is not Route.INTRAVENOUS:
            raise SpecError(f"route = {route}: {self.name} takes intravenous doses only")
        lung = np.asarray(params["lung_fraction"], dtype=float)
        split = np.zeros((6, lung.shape[0]))
        split[LUNG] = lung
        split[BLOOD] = 1.0 - lung
        return split

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        """Return every state under its output name."""
        return dict(zip(self.output_names, y, strict=True))


# --------------------------------------------------------------------------- patients


class SixStateNumPyModel(SixStateModel):
    """:class:`SixStateModel` without its kernel: the driven quadrature in NumPy."""

    remainder_kernel = None


def default_params() -> dict[str, Array]:
    """Return every parameter at its default, shape (1,)."""
    return {p.name: np.array([p.value]) for p in PARAMETERS}


def patient_params(n: int, seed: int) -> dict[str, Array]:
    """Return parameters of ``n`` patients: 30% log-normal spread on :data:`VARIED`.

    Draws are made patient by patient, so the first patients are the same for any ``n``.
    """
    z = np.random.default_rng(seed).standard_normal((n, len(VARIED)))
    params = default_params()
    for j, name in enumerate(VARIED):
        params[name] = params[name] * np.exp(OMEGA * z[:, j])
    return params


def take(params: Params, rows: slice) -> dict[str, Array]:
    """Return the parameters of patients ``rows`` (shared parameters stay shared)."""
    return {k: (v[rows] if v.shape[0] > 1 else v) for k, v in params.items()}


def doses() -> list[ResolvedDose]:
    """Return the 4 IV boluses."""
    return [ResolvedDose(t, Route.INTRAVENOUS, np.array([DOSE_CELLS])) for t in DOSE_DAYS]


# --------------------------------------------------------------------------- baseline


def expm_batched(a: Array) -> Array:
    """Return ``expm(a[p])`` for every ``p``: Taylor degree 12 after scaling, then squaring.

    ``a`` has shape ``(P, n, n)``; one scaling power for the whole batch (its
    largest 1-norm brought to <= 1/2, truncation error below 1e-13).
    """
    norm = float(np.abs(a).sum(axis=1).max(initial=0.0))
    squarings = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0.5 else 0
    x = a / 2.0**squarings
    eye = np.broadcast_to(np.eye(a.shape[1]), a.shape)
    e = eye + x / 12.0
    for k in range(11, 0, -1):
        e = eye + (x @ e) / k
    for _ in range(squarings):
        e = e @ e
    return e


@dataclass(frozen=True)
class Propagators:
    """Exact steps of the cell and factor states, per step length, patient-last.

    ``full[h]`` has shape ``(5, 5, P)`` (``expm(A h)``); ``factor_half[h]`` is the
    factor row of ``expm(A h / 2)``, shape ``(5, P)``.
    """

    full: dict[float, Array]
    factor_half: dict[float, Array]

    @classmethod
    def build(cls, a: Array, steps: Sequence[float]) -> Propagators:
        """Exponentials for every step length and its half; doubling lengths reuse a square."""
        lengths = sorted({h for s in steps for h in (s, s / 2)})
        exps: dict[float, Array] = {}
        for h in lengths:
            half = exps.get(h / 2)
            exps[h] = half @ half if half is not None else expm_batched(a * h)
        full = {h: np.ascontiguousarray(np.moveaxis(exps[h], 0, -1)) for h in set(steps)}
        half_row = {h: np.ascontiguousarray(exps[h / 2][:, FACTOR, :].T) for h in set(steps)}
        return cls(full, half_row)


def baseline_steps(times_day: Array, dose_days: Sequence[float]) -> Iterator[tuple[int, float]]:
    """Yield ``(output index, 0)`` at each output time and ``(-1, h)`` for each step after it.

    Steps of at most :data:`BASELINE_STEP_DAY` fill each interval between outputs;
    after a dose the first one is graded (:data:`GRADED_SHARES`). Doses fall on output times.
    """
    dosed = {round(float(d), 9) for d in dose_days}
    for k, t in enumerate(times_day):
        yield k, 0.0
        if k + 1 == times_day.size:
            return
        span = float(times_day[k + 1] - t)
        n_sub = max(1, math.ceil(span / BASELINE_STEP_DAY - 1e-9))
        steps = [span / n_sub] * n_sub
        if round(float(t), 9) in dosed:
            steps[:1] = [steps[0] * s for s in GRADED_SHARES]
        for h in steps:
            yield -1, h


def _apply(m: Array, x: Array) -> Array:
    """Return ``m[:, :, p] @ x[:, p]`` for every patient (``m`` patient-last)."""
    out: Array = m[:, 0] * x[0]
    for j in range(1, x.shape[0]):
        out += m[:, j] * x[j]
    return out


def _rk4_score(s: Array, h: float, loss: tuple[Array, Array, Array], score_input: Array) -> Array:
    """One classical RK4 step of ``S' = input - loss(t) S`` with the loss at t, t + h/2, t + h."""
    c0, c_mid, c1 = loss
    k1 = score_input - c0 * s
    k2 = score_input - c_mid * (s + 0.5 * h * k1)
    k3 = score_input - c_mid * (s + 0.5 * h * k2)
    k4 = score_input - c1 * (s + h * k3)
    out: Array = s + h / 6.0 * (k1 + 2.0 * (k2 + k3) + k4)
    return out


def baseline_solve(params: Params, times_day: Array, dose_days: Sequence[float]) -> Array:
    """Solve every patient by hand: exact cells and factor, RK4 on the score.

    Parameters
    ----------
    params : mapping of str to ndarray
        Every model parameter, shape (1,) or (n,).
    times_day : ndarray
        Output times (days); doses must fall on them.
    dose_days : sequence of float
        Days of the IV boluses of :data:`DOSE_CELLS`.

    Returns
    -------
    ndarray, shape (6, n, n_times)
        States at the output times (just after a dose at a dose time).
    """
    r = rates(params)
    n = max(np.shape(v)[0] for v in params.values())
    plan = list(baseline_steps(times_day, dose_days))
    prop = Propagators.build(cell_factor_matrix(r), [h for _, h in plan if h > 0])
    sub = {k: np.broadcast_to(v, (n,)) for k, v in params.items()}
    loss_rate = np.broadcast_to(r["score_loss"], (n,))
    score_input = np.broadcast_to(r["score_input"], (n,))
    dosed = {round(float(d), 9) for d in dose_days}
    lung = sub["lung_fraction"]

    def loss(factor: Array) -> Array:
        out: Array = loss_rate * (1.0 + stimulation(factor, sub))
        return out

    x = np.zeros((N_LINEAR, n))
    s = np.array(sub["score_baseline"], dtype=float)
    out = np.empty((times_day.size, 6, n))
    c = loss(x[FACTOR])
    for k, h in plan:
        if k >= 0:
            if round(float(times_day[k]), 9) in dosed:
                x[LUNG] += lung * DOSE_CELLS
                x[BLOOD] += (1.0 - lung) * DOSE_CELLS
            out[k, :N_LINEAR] = x
            out[k, SCORE] = s
            c = loss(x[FACTOR])
            continue
        c_mid = loss(np.einsum("jn,jn->n", prop.factor_half[h], x))
        x = _apply(prop.full[h], x)
        c_end = loss(x[FACTOR])
        s = _rk4_score(s, h, (c, c_mid, c_end), score_input)
        c = c_end
    return np.moveaxis(out, 0, -1)


# --------------------------------------------------------------------------- reference


def reference_solve(model: SixStateModel, params: Params, *, rtol: float, method: str) -> Array:
    """Solve each patient with ``solve_ivp`` per dose interval; states ``(6, n, n_times)``.

    Absolute tolerances are ``rtol * 1e-9`` of each state's scale (the dose for
    cells, the factor the whole dose would sustain at the target, the score's
    baseline). Doses fall on output times.
    """
    n = max(np.shape(v)[0] for v in params.values())
    out = np.empty((6, n, TIMES_DAY.size))
    edges = [*DOSE_DAYS, float(TIMES_DAY[-1])]
    for i in range(n):
        p = take(params, slice(i, i + 1))
        rhs = full_rhs(model, p)
        split = model.dose_split(Route.INTRAVENOUS, p)[:, 0]
        r = rates(p)
        factor_scale = float((r["secretion"] * DOSE_CELLS / r["factor_loss"])[0])
        scale = np.array([DOSE_CELLS] * 4 + [factor_scale, float(p["score_baseline"][0])])
        y = model.initial_state(p)[:, 0]
        for t0, t1 in itertools.pairwise(edges):
            y = y + split * DOSE_CELLS
            inside = (t0 <= TIMES_DAY) & (TIMES_DAY <= t1)
            sol = solve_ivp(
                lambda t, v, f=rhs: f(t, v[:, None])[:, 0],
                (t0, t1),
                y,
                method=method,
                t_eval=TIMES_DAY[inside],
                rtol=rtol,
                atol=rtol * 1e-9 * scale,
            )
            if not sol.success:
                raise RuntimeError(f"reference patient {i}: {sol.message}")
            # The output at t1 is taken after the next dose: the next interval writes it.
            out[:, i, inside] = sol.y
            y = sol.y[:, -1]
    return out


# --------------------------------------------------------------------------- measuring


def fast_solver(rtol: float | None, atol: float | None) -> FastSolver:
    """Return :class:`FastSolver` with default options and ``rtol``/``atol`` if it has them."""
    names = {f.name for f in dataclasses.fields(FastSolver)}
    given = {k: v for k, v in (("rtol", rtol), ("atol", atol)) if v is not None}
    for k in sorted(set(given) - names):
        print(f"note: FastSolver has no option {k}; --{k} ignored")
    return FastSolver(**{k: v for k, v in given.items() if k in names})


@dataclass
class Row:
    """Measurements at one number of patients."""

    n: int
    mscsim_s: float = 0.0
    baseline_s: float = 0.0
    error_mscsim: float = math.nan
    error_baseline: float = math.nan
    mscsim_steps: int = 0
    numpy_s: float = 0.0
    error_numpy: float = math.nan

    @property
    def ratio(self) -> float:
        """Baseline time over mscsim time (> 1: mscsim is faster)."""
        return self.baseline_s / self.mscsim_s

    @property
    def met(self) -> bool:
        """Whether mscsim is fast enough and both are accurate enough."""
        errors = (self.error_mscsim, self.error_baseline)
        return self.ratio >= TARGET_RATIO and all(e <= TARGET_ERROR for e in errors)


def run_mscsim(model: SixStateModel, params: Params, n: int, solver: FastSolver) -> Array:
    """Simulate ``n`` patients with mscsim; return their states ``(6, n, n_times)``."""
    return simulate_counted(model, params, n, solver)[0]


def simulate_counted(
    model: SixStateModel, params: Params, n: int, solver: FastSolver
) -> tuple[Array, int]:
    """Simulate ``n`` patients; return their states and the engine's steps summed over them."""
    result = simulate(
        model, doses(), times_day=TIMES_DAY, params=params, n_patients=n, solver=solver
    )
    return result.states, result.n_steps


def baseline_steps_per_patient() -> int:
    """Return the RK4 steps the baseline takes per patient (:func:`baseline_steps`)."""
    return sum(1 for _, h in baseline_steps(TIMES_DAY, DOSE_DAYS) if h > 0)


def measure(
    n: int, chunk: int, params: Params, solver: FastSolver, ref: Array, *, repeats: int
) -> Row:
    """Time mscsim and the baseline on ``n`` patients, chunk by chunk, alternating.

    Errors on the first chunk. The model without its kernel is timed apart
    (:func:`measure_numpy`).
    """
    model = SixStateModel()
    m = ref.shape[1]
    best = Row(n, math.inf, math.inf)
    for _ in range(repeats):
        row = Row(n)
        for c, start in enumerate(range(0, n, chunk)):
            rows = slice(start, min(n, start + chunk))
            size = rows.stop - rows.start
            part = take(params, rows)
            order = ("mscsim", "baseline") if c % 2 == 0 else ("baseline", "mscsim")
            for who in order:
                begin = time.perf_counter()
                if who == "mscsim":
                    states, steps = simulate_counted(model, part, size, solver)
                    row.mscsim_steps += steps
                else:
                    states = baseline_solve(part, TIMES_DAY, DOSE_DAYS)
                seconds = time.perf_counter() - begin
                if c == 0:
                    error = worst_relative_error(states[:, :m], ref)
                    setattr(row, f"error_{who}", error)
                setattr(row, f"{who}_s", getattr(row, f"{who}_s") + seconds)
                del states
        best.mscsim_s = min(best.mscsim_s, row.mscsim_s)
        best.baseline_s = min(best.baseline_s, row.baseline_s)
        best.error_mscsim, best.error_baseline = row.error_mscsim, row.error_baseline
        best.mscsim_steps = row.mscsim_steps
    return best


def measure_numpy(
    n: int, chunk: int, params: Params, solver: FastSolver, ref: Array, *, repeats: int
) -> tuple[float, float]:
    """Return the best time of mscsim without the kernel on ``n`` patients, and its error.

    Run after every other measurement: this path's large NumPy products leave
    OpenBLAS's worker threads spinning for a moment, which slowed a compiled run
    right after it by a quarter (measured at 10^4 patients).
    """
    model = SixStateNumPyModel()
    best, error = math.inf, math.nan
    for _ in range(repeats):
        seconds = 0.0
        for c, start in enumerate(range(0, n, chunk)):
            rows = slice(start, min(n, start + chunk))
            begin = time.perf_counter()
            states = run_mscsim(model, take(params, rows), rows.stop - rows.start, solver)
            seconds += time.perf_counter() - begin
            if c == 0:
                error = worst_relative_error(states[:, : ref.shape[1]], ref)
            del states
        best = min(best, seconds)
    return best, error


def print_table(rows: Sequence[Row]) -> None:
    """Print one line per number of patients."""
    print(
        f"{'patients':>9} {'mscsim ms/pt':>13} {'baseline ms/pt':>15} {'ratio':>6} "
        f"{'err mscsim':>11} {'err baseline':>13}  target  {'no kernel ms/pt':>15} {'ratio':>6}"
    )
    for r in rows:
        print(
            f"{r.n:>9,} {r.mscsim_s / r.n * 1e3:>13.4f} {r.baseline_s / r.n * 1e3:>15.4f} "
            f"{r.ratio:>6.2f} {r.error_mscsim:>11.1e} {r.error_baseline:>13.1e}  "
            f"{'met   ' if r.met else 'MISSED'}  {r.numpy_s / r.n * 1e3:>15.4f} "
            f"{r.baseline_s / r.numpy_s:>6.2f}"
        )


def parse_sizes(text: str) -> list[int]:
    """Return the comma-separated numbers of patients, each >= 1."""
    sizes = [int(float(s)) for s in text.split(",") if s.strip()]
    if not sizes or min(sizes) < 1:
        raise SystemExit(f"--n-patients = {text}: give numbers >= 1, separated by commas")
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n-patients", default="10000,100000", help="comma-separated sizes")
    parser.add_argument("--n-reference", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rtol", type=float, default=None, help="FastSolver rtol, if it has one")
    parser.add_argument("--atol", type=float, default=None, help="FastSolver atol, if it has one")
    parser.add_argument("--reference-rtol", type=float, default=1e-10)
    parser.add_argument("--reference-method", default="Radau")
    parser.add_argument("--json", type=Path, default=None, help="write the table here")
    args = parser.parse_args()
    sizes = parse_sizes(args.n_patients)
    solver = fast_solver(args.rtol, args.atol)
    m = max(1, min(args.n_reference, min(sizes), args.chunk))
    params = patient_params(max(sizes), args.seed)

    start = time.perf_counter()
    ref = reference_solve(
        SixStateModel(),
        take(params, slice(0, m)),
        rtol=args.reference_rtol,
        method=args.reference_method,
    )
    print(
        f"{MODEL}: 4 IV boluses, {TIMES_DAY.size} daily outputs; {solver!r}; baseline RK4 at "
        f"{BASELINE_STEP_DAY:g} d; reference {args.reference_method} rtol "
        f"{args.reference_rtol:g} on {m} patients ({time.perf_counter() - start:.1f} s)"
    )
    # Warm-up at the chunk size: imports, caches and the first large allocations.
    measure(min(args.chunk, max(sizes)), args.chunk, params, solver, ref, repeats=1)
    rows = [measure(n, args.chunk, params, solver, ref, repeats=args.repeats) for n in sizes]
    for row in rows:
        row.numpy_s, row.error_numpy = measure_numpy(
            row.n, args.chunk, params, solver, ref, repeats=args.repeats
        )
    print_table(rows)
    missing = sorted(set(TARGET_SIZES) - set(sizes))
    if missing:
        print(f"target sizes not run: {', '.join(f'{n:,}' for n in missing)} (no verdict)")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mib:,.0f} MiB")
    if args.json is not None:
        write_summary(args.json, rows, solver, m, args, peak_mib)
    return 0 if all(r.met for r in rows) and not missing else 1


def write_summary(
    path: Path,
    rows: Sequence[Row],
    solver: FastSolver,
    n_reference: int,
    args: argparse.Namespace,
    mib: float,
) -> None:
    """Write the measured table as JSON (atomically), for the README's generated block."""
    summary = {
        "command": "python bench/nonlinear.py " + " ".join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "solver": repr(solver),
        "baseline_step_day": BASELINE_STEP_DAY,
        "doses": len(DOSE_DAYS),
        "outputs": int(TIMES_DAY.size),
        "omega": OMEGA,
        "varied": list(VARIED),
        "reference": f"{args.reference_method} rtol "
        f"{args.reference_rtol:g} on {n_reference} patients",
        "baseline_steps_per_patient": baseline_steps_per_patient(),
        "target_ratio": TARGET_RATIO,
        "target_error": TARGET_ERROR,
        "peak_mib": round(mib),
        "rows": [
            {
                "patients": r.n,
                "mscsim_ms": r.mscsim_s / r.n * 1e3,
                "baseline_ms": r.baseline_s / r.n * 1e3,
                "ratio": r.ratio,
                "error_mscsim": r.error_mscsim,
                "error_baseline": r.error_baseline,
                "met": r.met,
                "mscsim_steps_per_patient": r.mscsim_steps / r.n,
                "numpy_ms": r.numpy_s / r.n * 1e3,
                "numpy_ratio": r.baseline_s / r.numpy_s,
                "error_numpy": r.error_numpy,
            }
            for r in rows
        ],
    }
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    sys.exit(main())
