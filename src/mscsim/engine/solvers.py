"""Solvers as objects: one protocol, one class per method, each with its own options.

A solver integrates every patient of a :class:`~mscsim.engine.events.Schedule`
from given initial states. It is a frozen value, so it can be passed to a Dask
worker and compared. A new solver is one new class implementing :class:`Solver`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, cast, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from mscsim.engine.adaptive import DEFAULT_ATOL as ADAPTIVE_ATOL
from mscsim.engine.adaptive import DEFAULT_RTOL as ADAPTIVE_RTOL
from mscsim.engine.adaptive import AdaptiveRun, integrate_adaptive
from mscsim.engine.driven import (
    DrivenStructure,
    DrivenView,
    driven_groups,
    driven_structure,
    integrate_driven,
)
from mscsim.engine.events import Schedule
from mscsim.engine.fast import integrate_fast
from mscsim.engine.reference_solver import DEFAULT_ATOL, DEFAULT_RTOL, integrate_scipy
from mscsim.errors import SpecError
from mscsim.models.base import Array, Model, Params, take_rows

__all__ = ["ENGINES", "FastSolver", "Integration", "ScipySolver", "Solver", "solver_named"]

ENGINES: tuple[str, ...] = ("fast", "scipy")
"""Names of the built-in solvers (the command line's ``--engine``)."""

EngineName = Literal["fast", "scipy"]


@dataclass(frozen=True)
class Integration:
    """What a solver returns for one batch of patients.

    Attributes
    ----------
    states : ndarray, shape (n_states, n_patients, n_times)
    status : ndarray of int8, shape (n_patients,)
        0 where the patient was integrated, 1 where it failed.
    n_steps, n_rhs_evals : int
        Cost counters (see :class:`~mscsim.engine.result.SimulationResult`).
    message : str
        First failure, or ``""``.
    """

    states: Array
    status: np.ndarray
    n_steps: int
    n_rhs_evals: int
    message: str = ""


@runtime_checkable
class Solver(Protocol):
    """The contract of a solver.

    An implementer provides ``name`` (recorded in results as their ``engine``) and
    :meth:`integrate`. The engine guarantees that ``params`` rows are ``(1,)`` or
    ``(n_patients,)``, that ``schedule`` is valid and that ``y0`` has shape
    ``(n_states, n_patients)``.
    """

    @property
    def name(self) -> str:
        """Short name of the method (``"fast"``, ``"scipy"``)."""
        ...

    def integrate(
        self,
        model: Model,
        params: Params,
        schedule: Schedule,
        y0: Array,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Integration:
        """Integrate every patient along ``schedule`` and return the states at its output times."""
        ...


def _untreated(schedule: Schedule, n: int) -> NDArray[np.bool_]:
    """Return which of the ``n`` patients get no cells from any bolus or infusion."""
    given = np.zeros(n)
    for step in (*schedule.boluses, *schedule.infusions):
        for _, amount in step:
            given = given + np.abs(np.broadcast_to(amount, (n,)))
    out: NDArray[np.bool_] = given == 0.0
    return out


def _not_finite(states: Array) -> NDArray[np.bool_]:
    """Return which patients (axis 1 of ``states``) have a state that is not finite."""
    bad: NDArray[np.bool_] = ~np.all(np.isfinite(states), axis=(0, 2))
    return bad


@dataclass(frozen=True)
class FastSolver:
    """All patients at once: exact linear part, error-controlled steps of the remainder.

    A linear model takes one exact step per interval between breakpoints
    (:mod:`mscsim.engine.fast`). A one-way model whose remainder is affine in
    the one state it writes (``remainder_affine``) has its other states solved
    exactly and that state by Gauss quadrature on error-controlled panels
    (:mod:`mscsim.engine.driven`). Any other nonlinear model is integrated in
    each patient's linear modes with error-controlled exponential Runge-Kutta
    steps, each patient with its own steps (:mod:`mscsim.engine.adaptive`).

    Parameters
    ----------
    rtol : float
        Relative tolerance of each step (> 0, < 1).
    atol : float
        Absolute tolerance of each step as a share of each state's largest value
        so far (>= 0, < 1): one value serves cell counts and scores alike.
    max_step_day : float, optional
        Longest step of the adaptive backend (days, > 0); default: no limit beyond
        the output interval.
    """

    rtol: float = ADAPTIVE_RTOL
    atol: float = ADAPTIVE_ATOL
    max_step_day: float | None = None
    name: ClassVar[str] = "fast"

    def __post_init__(self) -> None:
        if not 0 < self.rtol < 1:
            raise SpecError(f"rtol = {self.rtol}: must be > 0 and < 1")
        if not 0 <= self.atol < 1:
            raise SpecError(f"atol = {self.atol}: must be >= 0 and < 1")
        if self.max_step_day is not None and not self.max_step_day > 0:
            raise SpecError(f"max_step_day = {self.max_step_day}: must be > 0")

    def integrate(
        self,
        model: Model,
        params: Params,
        schedule: Schedule,
        y0: Array,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Integration:
        """See :meth:`Solver.integrate`; non-finite patients get status 1."""
        with np.errstate(under="ignore", over="ignore"):
            prepared = model.prepare(params)
            linear = model.is_linear(prepared)
            structure = None if linear else driven_structure(model, prepared)
            groups = None if linear or structure else driven_groups(model, prepared, y0.shape[1])
            flagged: NDArray[np.bool_] | None = None  # non-finite patients, if a backend knows
            if linear:
                states, n_steps, n_rhs = integrate_fast(
                    model, params, schedule, y0, progress=progress, prepared=prepared
                )
            elif structure is not None:
                states, n_steps, n_rhs, flagged = self._driven(
                    model, params, schedule, y0, structure, progress, prepared
                )
            elif groups is not None and any(views for _, views in groups):
                states, n_steps, n_rhs, flagged = self._grouped(
                    model, params, schedule, y0, groups, progress, prepared
                )
            else:
                run = integrate_adaptive(
                    model,
                    params,
                    schedule,
                    y0,
                    rtol=self.rtol,
                    atol=self.atol,
                    max_step_day=self.max_step_day,
                    progress=progress,
                    prepared=prepared,
                )
                states, n_steps, n_rhs = run.states, run.n_steps, run.n_rhs
        bad = _not_finite(states) if flagged is None else flagged
        message = f"{int(bad.sum())} patient(s) gave non-finite states" if bad.any() else ""
        return Integration(states, bad.astype(np.int8), n_steps, n_rhs, message)

    def _driven(
        self,
        model: Model,
        params: Params,
        schedule: Schedule,
        y0: Array,
        structure: DrivenStructure,
        progress: Callable[[int, int], None] | None,
        prepared: Params,
    ) -> tuple[Array, int, int, NDArray[np.bool_] | None]:
        """Integrate a one-way affine model (:mod:`mscsim.engine.driven`); others adaptively.

        Also returns which patients' states are not all finite, when the backend
        checked them (the compiled one does), else None.
        """
        got, n_steps, n_rhs, modal, flagged = integrate_driven(
            model,
            params,
            schedule,
            y0,
            structure,
            rtol=self.rtol,
            atol=self.atol,
            progress=progress,
            prepared=prepared,
        )
        states = cast(Array, got)  # returned: no ``into``
        rest = np.flatnonzero(~modal)
        if rest.size:
            run = self._adaptive(model, params, schedule, y0, rest, prepared)
            states[:, rest] = run.states
            n_steps += run.n_steps
            n_rhs += run.n_rhs
            if flagged is not None:
                flagged = flagged.copy()
                flagged[rest] = _not_finite(run.states)
        return states, n_steps, n_rhs, flagged

    def _adaptive(
        self,
        model: Model,
        params: Params,
        schedule: Schedule,
        y0: Array,
        rest: NDArray[np.intp],
        prepared: Params,
    ) -> AdaptiveRun:
        """Integrate patients ``rest`` by the adaptive backend (those another backend left)."""
        return integrate_adaptive(
            model,
            take_rows(params, rest),
            schedule.take(rest),
            y0[:, rest],
            rtol=self.rtol,
            atol=self.atol,
            max_step_day=self.max_step_day,
            prepared=take_rows(prepared, rest),
        )

    def _grouped(
        self,
        model: Model,
        params: Params,
        schedule: Schedule,
        y0: Array,
        groups: list[tuple[NDArray[np.intp], list[tuple[DrivenView, DrivenStructure]]]],
        progress: Callable[[int, int], None] | None,
        prepared: Params,
    ) -> tuple[Array, int, int, NDArray[np.bool_]]:
        """Integrate each group of patients by its remainder pattern (:func:`driven_groups`).

        A group with driven views takes one driven run per view, each giving its
        driven state (the drivers are the same in all); its patients that a
        driven run cannot diagonalise, and the groups without views, take the
        adaptive backend with the whole model.
        """
        from mscsim.engine.compiled_adaptive import place

        n_states, n = y0.shape
        # Indexed time-major, as the compiled backends write theirs; patient-major in
        # memory, the states' own layout (see mscsim.engine.compiled).
        by_time = np.empty((n_states, n, schedule.times_day.size)).transpose(2, 0, 1)
        flagged = np.zeros(n, dtype=bool)
        steps = rhs = 0
        adaptive: list[NDArray[np.intp]] = []
        total = schedule.breakpoints.size
        runs = sum(len(views) * idx.size for idx, views in groups) + n
        done = 0

        def tell(patients: int) -> None:
            nonlocal done
            done += patients
            if progress is not None:
                progress(min(total, round(total * done / runs)), total)

        # A model linear below its switches is exactly linear in a patient given no
        # cells: the adaptive backend crosses such a run in exact steps.
        untreated = (
            _untreated(schedule, n) if getattr(model, "linear_below_switches", False) else None
        )
        for idx, views in groups:
            if untreated is not None and views:
                adaptive.append(idx[untreated[idx]])
                idx = idx[~untreated[idx]]
            if not views or not idx.size:
                if not views:
                    adaptive.append(idx)
                continue
            part = (take_rows(params, idx), schedule.take(idx), y0[:, idx])
            mine = take_rows(prepared, idx)
            modes: dict[bytes, Any] = {}  # the views share their drivers' modes
            modal = np.ones(idx.size, dtype=bool)
            for j, (view, structure) in enumerate(views):
                got, n_panels, n_calls, ok, bad = integrate_driven(
                    view,  # type: ignore[arg-type]  # a DrivenView stands in for the model
                    *part,
                    structure,
                    rtol=self.rtol,
                    atol=self.atol,
                    prepared=mine,
                    drivers_out=j == 0,
                    into=(by_time, idx),  # a compiled run writes its patients' columns
                    modes=modes,
                )
                modal &= ok
                if got is not None:  # a NumPy run: its states put in place here
                    rows = np.arange(n_states) if j == 0 else np.array([structure.driven])
                    place(by_time, got.transpose(2, 0, 1), rows, idx)
                    written = np.r_[structure.drivers, structure.driven] if j == 0 else rows
                    flagged[idx] |= _not_finite(got[written]) if bad is None else bad
                elif bad is not None:
                    flagged[idx] |= bad
                steps += n_panels
                rhs += n_calls
                tell(idx.size)
            adaptive.append(idx[~modal])
        rest = np.concatenate(adaptive) if adaptive else np.zeros(0, dtype=np.intp)
        if rest.size:
            run = self._adaptive(model, params, schedule, y0, rest, prepared)
            place(by_time, run.states.transpose(2, 0, 1), np.arange(n_states), rest)
            flagged[rest] = _not_finite(run.states)
            steps += run.n_steps
            rhs += run.n_rhs
        by_time[:, :, flagged] = np.nan  # a flagged patient is NaN throughout, as compiled
        done = runs - n
        tell(n)
        return by_time.transpose(1, 2, 0), steps, rhs, flagged


@dataclass(frozen=True)
class ScipySolver:
    """``scipy.integrate.solve_ivp`` per patient and dose segment: the baseline and cross-check.

    Parameters
    ----------
    rtol, atol : float
        Tolerances (> 0).
    method : str
        A ``solve_ivp`` method; default ``"LSODA"``.
    """

    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    method: str = "LSODA"
    name: ClassVar[str] = "scipy"

    def __post_init__(self) -> None:
        for field, value in (("rtol", self.rtol), ("atol", self.atol)):
            if not value > 0:
                raise SpecError(f"{field} = {value}: must be > 0")

    def integrate(
        self,
        model: Model,
        params: Params,
        schedule: Schedule,
        y0: Array,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Integration:
        """See :meth:`Solver.integrate`."""
        states, status, n_steps, n_rhs, message = integrate_scipy(
            model,
            params,
            schedule,
            y0,
            rtol=self.rtol,
            atol=self.atol,
            method=self.method,
            progress=progress,
        )
        return Integration(states, status, n_steps, n_rhs, message)


def solver_named(engine: str, *, max_step_day: float | None = None) -> Solver:
    """Return the built-in solver called ``engine`` (``"fast"`` or ``"scipy"``).

    Examples
    --------
    >>> solver_named("scipy")
    ScipySolver(rtol=1e-06, atol=1e-06, method='LSODA')
    """
    if engine == "fast":
        return FastSolver(max_step_day=max_step_day)
    if engine == "scipy":
        return ScipySolver()
    raise SpecError(f"engine = {engine!r}: must be one of {', '.join(ENGINES)}")
