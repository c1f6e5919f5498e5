r"""Exact peaks and last times at a level, from the solution rather than its output grid.

A course sampled once a day misses what happens within hours of a dose: after a
one-hour intravenous infusion the lung holds most cells for a few hours only.
:func:`course_extrema` finds each output's maximum, its time, and the last time the
output is at or above a level (one viable cell), to the accuracy of the
integration:

1. the course is resumed from the result's states, with the solver that made it,
   and sampled densely after every dose start and infusion end
   (:func:`dense_times`); patients with different dose schedules are examined
   each under their own doses;
2. at each local maximum of the samples, the slope of the output along the
   solution (from the model's right-hand side and the running infusions) tells
   whether the true maximum lies between samples: a change of sign from + to -;
3. such a change of sign, and the last crossing of the level, are found with
   Brent's method (:func:`scipy.optimize.brentq`) on values re-simulated from the
   nearest known state.

A maximum at a dose or at the end of an infusion (where the course has a kink) is
a sample and counts as such. Values at a dose time are those just after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from mscsim.engine.events import TIME_TOL_DAY, ResolvedDose
from mscsim.engine.integrate import delivered_doses, simulate
from mscsim.engine.result import SimulationResult
from mscsim.engine.solvers import Solver, solver_named
from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter
from mscsim.models.base import Array, Model, Params, full_rhs, n_param_rows, nonnegative_mask
from mscsim.models.immunity import without_ibmir
from mscsim.problem.problem import Problem
from mscsim.spec.route import Route

__all__ = ["EXTREMA_COLUMNS", "XTOL_DAY", "course_extrema", "dense_times"]

EXTREMA_COLUMNS: tuple[str, ...] = (
    "output",
    "patient_id",
    "peak",
    "peak_day",
    "last_day_at_level",
)
"""Columns of :func:`course_extrema`: ``last_day_at_level`` is the last time the
output is at or above the level (the last output time if it still is; NaN if never)."""

XTOL_DAY = 1e-10
"""Absolute tolerance of a root in time (days); the relative one is 1e-11."""

MIN_GAP_DAY = 1e-6
"""Added times closer than this to another time are dropped (about 0.1 s)."""

MAX_DENSE_POINTS = 1000
"""Most times :func:`course_extrema` adds near doses before its search."""

TAYLOR_DAY = 1e-8
"""A state this close after a known one is extrapolated along the flow, not simulated."""


def dense_times(
    doses: Sequence[ResolvedDose],
    times_day: ArrayLike,
    *,
    first_day: float = 1e-4,
    span_days: float = 7.0,
    per_decade: int = 8,
) -> Array:
    """Return ``times_day`` with times added near every dose.

    Each dose start and infusion end is added, and a geometric grid after each,
    from ``first_day`` later up to ``span_days`` later or the next dose start or
    infusion end, with ``per_decade`` points a decade. Added times lie within
    ``[times_day[0], times_day[-1]]`` and at least :data:`MIN_GAP_DAY` from every
    other time. Every given time is kept, so ``np.searchsorted(dense, times_day)``
    finds them.

    Examples
    --------
    >>> from mscsim.spec.route import Route
    >>> dose = ResolvedDose(1.0, Route.INTRAVENOUS, np.array([1e6]), duration_day=0.5)
    >>> t = dense_times([dose], [0.0, 1.0, 2.0], first_day=0.1, span_days=1.0, per_decade=1)
    >>> t.tolist()
    [0.0, 1.0, 1.1, 1.5, 1.6, 2.0]
    """
    times = np.asarray(times_day, dtype=float)
    if not (first_day > 0 and span_days > first_day and per_decade >= 1):
        raise SpecError(
            f"dense_times: need 0 < first_day < span_days and per_decade >= 1, got "
            f"{first_day:g}, {span_days:g}, {per_decade}"
        )
    n = math.ceil(per_decade * math.log10(span_days / first_day)) + 1
    offsets = np.concatenate([[0.0], np.geomspace(first_day, span_days, n)])
    events = np.unique(
        [d.time_day for d in doses]
        + [d.time_day + d.duration_day for d in doses if d.duration_day > 0]
    )
    following = np.append(events[1:], np.inf)
    grid = events[:, None] + offsets[None, :]
    extra = grid[grid < following[:, None] - MIN_GAP_DAY]
    extra = np.unique(extra[(extra >= times[0]) & (extra <= times[-1])])
    extra = extra[np.diff(extra, prepend=-np.inf) > MIN_GAP_DAY]
    padded = np.concatenate([[-np.inf], times, [np.inf]])
    i = np.searchsorted(times, extra)
    gap = np.minimum(extra - padded[i], padded[i + 1] - extra)
    out: Array = np.union1d(times, extra[gap > MIN_GAP_DAY])
    return out


class _Resumed:
    """``model`` started from given states instead of its own initial state."""

    def __init__(self, model: Model, y0: Array) -> None:
        self._model = model
        self._y0 = y0
        self.name: str = model.name
        self.states: tuple[str, ...] = model.states
        self.nonnegative: tuple[str, ...] = model.nonnegative
        self.parameters: tuple[Parameter, ...] = model.parameters
        self.output_names: tuple[str, ...] = model.output_names

        self.remainder_reads: tuple[str, ...] = model.remainder_reads
        self.remainder_writes: tuple[str, ...] = model.remainder_writes
        self.linear_below_switches: bool = model.linear_below_switches
        self.remainder_affine: bool = getattr(model, "remainder_affine", False)

    def initial_state(self, params: Params) -> Array:
        return self._y0

    def prepare(self, params: Params) -> Params:
        return self._model.prepare(params)

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        return self._model.linear_system(params)

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        return self._model.remainder(t_day, y, params)

    def is_linear(self, params: Params) -> bool:
        return self._model.is_linear(params)

    def switches(self, y: Array, params: Params) -> Array:
        return self._model.switches(y, params)

    def activity(self, y: Array, params: Params) -> Array:
        return self._model.activity(y, params)

    def dose_split(self, route: Route, params: Params) -> Array:
        return self._model.dose_split(route, params)

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        return self._model.outputs(y, params)


@dataclass(frozen=True)
class _Patient:
    """One patient's model, parameters, doses and solver."""

    model: Model
    params: dict[str, Array]
    doses: tuple[ResolvedDose, ...]
    solver: Solver
    splits: dict[Route, Array]
    rhs: Callable[[float, Array], Array]

    @classmethod
    def of(
        cls,
        model: Model,
        params: Mapping[str, Array],
        doses: Sequence[ResolvedDose],
        solver: Solver,
        p: int,
    ) -> _Patient:
        """Return patient ``p``'s slice of per-patient parameters and doses."""

        def one(v: Array) -> Array:
            return v if v.shape[0] == 1 else v[p : p + 1]

        own = {k: one(v) for k, v in params.items()}
        mine = tuple(
            ResolvedDose(d.time_day, d.route, one(np.atleast_1d(d.viable_cells)), d.duration_day)
            for d in doses
        )
        # Doses as delivered (IBMIR removed once, on the whole dose, not on resumed parts).
        mine, own = delivered_doses(mine, own), without_ibmir(own)
        splits = {d.route: model.dose_split(d.route, own)[:, 0] for d in mine}
        return cls(model, own, mine, solver, splits, full_rhs(model, own))

    def event_times(self) -> Array:
        """Return the dose starts and infusion ends."""
        ends = [d.time_day + d.duration_day for d in self.doses if d.duration_day > 0]
        return np.unique([d.time_day for d in self.doses] + ends)

    def resume(self, t0: float, y0: Array, times: Array) -> Array:
        """Return the states at ``times`` (all > ``t0``) from states ``y0`` at ``t0``.

        ``y0`` holds the states just after any bolus at ``t0``. Shape
        ``(n_states, len(times))``.
        """
        end = float(times[-1])
        doses = []
        for d in self.doses:
            stop = d.time_day + d.duration_day
            if d.duration_day > 0 and d.time_day <= end and stop > t0 + TIME_TOL_DAY:
                start = max(d.time_day, t0)
                cells = d.viable_cells * (stop - start) / d.duration_day
                doses.append(ResolvedDose(start, d.route, cells, stop - start))
            elif d.duration_day <= 0 and t0 + TIME_TOL_DAY < d.time_day <= end:
                doses.append(d)
        run = simulate(
            _Resumed(self.model, y0[:, None]),
            doses,
            times_day=np.concatenate([[t0], times]),
            params=self.params,
            solver=self.solver,
        )
        return run.states[:, 0, 1:]

    def flow(self, t: float, y: Array, *, before: bool = False) -> Array:
        """Return dy/dt at ``t`` with the infusion input (just before ``t`` if ``before``)."""
        out = self.rhs(t, y[:, None])[:, 0]
        for d in self.doses:
            stop = d.time_day + d.duration_day
            if d.duration_day <= 0:
                continue
            if before:
                active = d.time_day + TIME_TOL_DAY < t <= stop + TIME_TOL_DAY
            else:
                active = d.time_day - TIME_TOL_DAY <= t < stop - TIME_TOL_DAY
            if active:
                out = out + self.splits[d.route] * float(d.viable_cells[0]) / d.duration_day
        return out

    def undo_boluses(self, t: float, y: Array) -> Array:
        """Return the states just before ``t`` from those just after it."""
        for d in self.doses:
            if d.duration_day <= 0 and abs(d.time_day - t) <= TIME_TOL_DAY:
                y = y - self.splits[d.route] * float(d.viable_cells[0])
        return y

    def output(self, states: Array, name: str) -> Array:
        """Return output ``name`` at states ``(n_states, m)``, shape ``(m,)``."""
        values = self.model.outputs(
            states[:, None, :], {k: v[:, None] for k, v in self.params.items()}
        )
        out: Array = np.broadcast_to(values[name], (1, states.shape[1]))[0]
        return out

    def slope(self, t: float, y: Array, name: str, *, before: bool = False) -> float:
        """Return the time derivative of output ``name`` along the solution at ``t``.

        A second-order forward difference along the flow, exact for outputs linear
        in the states; ``y`` and the infusions are those just before ``t`` if
        ``before``.
        """
        if before:
            y = self.undo_boluses(t, y)
        f = self.flow(t, y, before=before)
        h = 1e-6 / max(float(np.max(np.abs(f) / (np.abs(y) + 1.0))), 1.0)
        keep = nonnegative_mask(self.model)
        ys = np.stack([y, y + h * f, y + 2 * h * f], axis=1)
        ys[keep] = np.maximum(ys[keep], 0.0)
        o = self.output(ys, name)
        return float((4 * o[1] - 3 * o[0] - o[2]) / (2 * h))


@dataclass
class _Course:
    """One patient's course: states at known times, extended on demand."""

    patient: _Patient
    times: Array
    states: Array

    def add(self, times: Array, states: Array) -> None:
        """Merge states at new ``times`` into the course."""
        order = np.argsort(np.concatenate([self.times, times]), kind="stable")
        self.times = np.concatenate([self.times, times])[order]
        self.states = np.concatenate([self.states, states], axis=1)[:, order]

    def known_before(self, t: float) -> int:
        """Return the index of the last known time at or before ``t``."""
        return int(np.searchsorted(self.times, t + TIME_TOL_DAY, side="right")) - 1

    def state(self, t: float) -> Array:
        """Return the states at ``t`` (just after any bolus), simulating if unknown."""
        k = self.known_before(t)
        t0, y0 = float(self.times[k]), self.states[:, k]
        if t - t0 <= TIME_TOL_DAY:
            return y0
        if t - t0 <= TAYLOR_DAY:
            return y0 + (t - t0) * self.patient.flow(t0, y0)
        y = self.patient.resume(t0, y0, np.array([t]))
        self.add(np.array([t]), y)
        return y[:, 0]

    def densify(self, span_days: float) -> None:
        """Add states on :func:`dense_times` after every dose, one run per stretch of doses.

        The grid is thinned to at most :data:`MAX_DENSE_POINTS` added times (down to
        the dose starts and infusion ends alone for long regimens).
        """
        doses = self.patient.doses
        if not doses:
            return
        new = np.array([])
        for per_decade in (4, 2, 1):
            new = np.setdiff1d(
                dense_times(doses, self.times, span_days=span_days, per_decade=per_decade),
                self.times,
            )
            if new.size <= MAX_DENSE_POINTS:
                break
        else:
            new = np.setdiff1d(
                dense_times(doses, self.times, span_days=1e-3, first_day=1e-4, per_decade=1),
                self.times,
            )
        gaps = np.flatnonzero(np.diff(new) > span_days) + 1
        for piece in np.split(new, gaps):
            if piece.size:
                k = self.known_before(float(piece[0]))
                self.add(piece, self.patient.resume(float(self.times[k]), self.states[:, k], piece))


def _root(fun: Callable[[float], float], a: float, b: float, f_a: float, f_b: float) -> float:
    """Return a root of ``fun`` in ``[a, b]``, given its values of opposite sign at the ends."""
    from scipy.optimize import brentq

    def inside(t: float) -> float:
        return f_a if t <= a else f_b if t >= b else fun(t)

    root: float = brentq(inside, a, b, xtol=XTOL_DAY, rtol=1e-11)
    return root


def _peak(course: _Course, name: str, values: Array) -> tuple[float, float]:
    """Return the maximum of output ``name`` and its time.

    At every local maximum of the samples, a change of sign of the slope from +
    to - on either side whose tangents meet above the best value so far is
    narrowed (the output is taken as concave between neighbouring samples).
    """
    patient, times = course.patient, course.times.copy()
    states = course.states.copy()
    k = int(np.argmax(values))
    peak, day = float(values[k]), float(times[k])
    n = values.size
    higher = np.concatenate([[True], values[1:] >= values[:-1]])
    lower = np.concatenate([values[:-1] > values[1:], [True]])
    brackets = []
    for top in np.flatnonzero(higher & lower).tolist():
        for i in (top - 1, top):
            if 0 <= i < n - 1:
                g0 = patient.slope(float(times[i]), states[:, i], name)
                g1 = patient.slope(float(times[i + 1]), states[:, i + 1], name, before=True)
                if g0 > 0 > g1:
                    t0, t1, v0, v1 = times[i], times[i + 1], values[i], values[i + 1]
                    meet = min(max((v1 - v0 + g0 * t0 - g1 * t1) / (g0 - g1), t0), t1)
                    bound = float(v0 + g0 * (meet - t0))
                    brackets.append((bound, float(t0), float(t1), g0, g1))
    for bound, t0, t1, g0, g1 in sorted(brackets, reverse=True):
        if bound <= peak:
            break
        root = _root(lambda t: patient.slope(t, course.state(t), name), t0, t1, g0, g1)
        value = float(patient.output(course.state(root)[:, None], name)[0])
        if value > peak:
            peak, day = value, root
    return peak, day


def _last_at_level(course: _Course, name: str, values: Array, level: float) -> float:
    """Return the last time output ``name`` is at or above ``level`` (NaN if never)."""
    at = np.flatnonzero(values >= level)
    if at.size == 0:
        return math.nan
    k = int(at[-1])
    if k == values.size - 1:
        return float(course.times[k])
    patient = course.patient

    def excess(t: float) -> float:
        return float(patient.output(course.state(t)[:, None], name)[0]) - level

    t0, t1 = float(course.times[k]), float(course.times[k + 1])
    return _root(excess, t0, t1, float(values[k]) - level, float(values[k + 1]) - level)


def course_extrema(
    result: SimulationResult,
    problem: Problem,
    solver: Solver | None = None,
    *,
    outputs: Sequence[str] | None = None,
    level: float = 1.0,
    span_days: float = 7.0,
) -> pd.DataFrame:
    """Return each output's exact maximum, its time and the last time at ``level``.

    Parameters
    ----------
    result : SimulationResult
        A simulation of ``problem``'s patients, in problem order, made by
        ``solver`` (:func:`mscsim.problem.solve`); its output times may differ
        from the problem's. The search resumes from its states.
    problem : Problem
        The model, parameters and per-patient dose events simulated.
    solver : Solver, optional
        The solver that made ``result``, options included; it re-simulates the
        stretches searched. Default: the built-in solver named ``result.engine``
        with its default options.
    outputs : sequence of str, optional
        Outputs to examine (default: every output of ``result``).
    level : float
        Level whose last time is reported (default one viable cell).
    span_days : float
        Days after each dose sampled densely before the search.

    Returns
    -------
    DataFrame
        One row per output and patient (by patient in problem order, then output),
        columns :data:`EXTREMA_COLUMNS`.

    Raises
    ------
    SpecError
        If an output is unknown, ``result`` does not hold ``problem``'s patients,
        or no solver is given for a result of a solver that is not built in.

    Notes
    -----
    Patients are examined per dose schedule (:meth:`Problem.schedule_groups`),
    each under its own doses. Costs a few short simulations per output and
    patient; patients of one schedule sharing every parameter and dose amount are
    examined once. A patient whose integration failed (``result.status``) gets NaN.
    """
    names = list(result.outputs) if outputs is None else list(outputs)
    unknown = [n for n in names if n not in result.outputs]
    if unknown:
        raise SpecError(f"outputs = {unknown[0]!r}: not an output of model {result.model}")
    n = result.n_patients
    if n != problem.n_patients:
        raise SpecError(
            f"result: {n} patient(s), but the problem has {problem.n_patients}; "
            "give the result of this problem"
        )
    if solver is None:
        solver = solver_named(result.engine)
    ids = result.patient_ids if result.patient_ids.size == n else problem.patient_ids
    found: dict[int, list[tuple[float, float, float]]] = {}
    for rows in problem.schedule_groups().values():
        group = problem.take(rows)
        doses = group.events.doses_for(np.arange(group.n_patients, dtype=np.intp))
        found.update(_group_extrema(result, group, doses, solver, rows, names, level, span_days))
    table = [
        (name, int(ids[i]), *row)
        for i in range(n)
        for name, row in zip(names, found[i], strict=True)
    ]
    return pd.DataFrame(table, columns=list(EXTREMA_COLUMNS))


def _group_extrema(
    result: SimulationResult,
    group: Problem,
    doses: Sequence[ResolvedDose],
    solver: Solver,
    rows: NDArray[np.intp],
    names: Sequence[str],
    level: float,
    span_days: float,
) -> dict[int, list[tuple[float, float, float]]]:
    """Return the extrema of the patients of one schedule, keyed by their row in ``result``."""
    p = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in group.params.items()}
    shared = n_param_rows(p) == 1 and all(np.size(d.viable_cells) == 1 for d in doses)
    out: dict[int, list[tuple[float, float, float]]] = {}
    once: list[tuple[float, float, float]] | None = None
    for j, row in enumerate(rows.tolist()):
        if result.status[row] != 0:
            out[row] = [(math.nan, math.nan, math.nan)] * len(names)
            continue
        if shared and once is not None:
            out[row] = once
            continue
        patient = _Patient.of(group.model, p, doses, solver, j)
        course = _Course(patient, result.times_day.copy(), result.states[:, row, :].copy())
        course.densify(span_days)
        once = out[row] = []
        for name in names:
            values = patient.output(course.states, name)
            last = _last_at_level(course, name, values, level)
            once.append((*_peak(course, name, values), last))
    return out
