"""The engine's front function: simulate a model under a dose schedule."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from mscsim.engine.events import ResolvedDose, build_schedule
from mscsim.engine.result import SimulationResult
from mscsim.engine.solvers import EngineName, FastSolver, Solver, solver_named
from mscsim.errors import IntegrationError, SpecError
from mscsim.models.base import Array, Model, Params, n_param_rows
from mscsim.models.immunity import ibmir_loss

__all__ = ["delivered_doses", "param_table", "simulate"]

MAX_STATE_BYTES = 4 * 2**30
"""Largest state array one in-memory run may hold (4 GiB); larger runs are refused."""


def param_table(params: Mapping[str, ArrayLike], n_patients: int) -> dict[str, Array]:
    """Return ``params`` as float arrays of shape (1,) (shared) or (n_patients,).

    Raises
    ------
    SpecError
        Naming the parameter whose shape is neither.
    """
    out = {}
    for name, value in params.items():
        arr = np.atleast_1d(np.asarray(value, dtype=float))
        if arr.ndim != 1 or arr.shape[0] not in (1, n_patients):
            raise SpecError(
                f"params.{name}: shape {arr.shape} must be (1,) or (n_patients,) = ({n_patients},)"
            )
        out[name] = arr
    n_param_rows(out)
    return out


def delivered_doses(doses: Sequence[ResolvedDose], params: Params) -> tuple[ResolvedDose, ...]:
    """Return ``doses`` less the cells lost on administration, per patient.

    Intravenous and intra-arterial doses lose their IBMIR share
    (:func:`mscsim.models.immunity.ibmir_loss`) when ``params`` have
    ``ibmir_max_loss``; other doses are returned as they are.
    """
    out = []
    for d in doses:
        lost = ibmir_loss(d.route, d.viable_cells, params)
        kept = d.viable_cells * (1.0 - lost)
        out.append(replace(d, viable_cells=kept) if np.any(lost > 0) else d)
    return tuple(out)


def initial_states(model: Model, params: Params, n_patients: int) -> Array:
    """Return the states at the start, shape ``(n_states, n_patients)``.

    A model's optional ``initial_state(params)`` gives them (shape
    ``(n_states, P)``); without it every state starts at 0.
    """
    y0 = np.zeros((len(model.states), n_patients))
    initial = getattr(model, "initial_state", None)
    if initial is not None:
        y0[:] = np.broadcast_to(np.asarray(initial(params), dtype=float), y0.shape)
    return y0


def simulate(
    model: Model,
    doses: Sequence[ResolvedDose],
    *,
    times_day: ArrayLike,
    params: Mapping[str, ArrayLike],
    n_patients: int = 1,
    solver: Solver | None = None,
    engine: EngineName | None = None,
    on_failure: Literal["raise", "flag"] = "raise",
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate ``n_patients`` patients of ``model`` receiving ``doses``.

    Every patient shares the dose times; :func:`mscsim.problem.solve` simulates
    patients with their own schedules. Cells lost on administration are removed
    from each dose first (:func:`delivered_doses`).

    Parameters
    ----------
    model : Model
        Any object implementing :class:`mscsim.models.Model`.
    doses : sequence of ResolvedDose
        Administrations with viable cells per patient (shape (1,) or (n_patients,)).
    times_day : array_like, shape (n_times,)
        Increasing output times in days, from >= 0; the simulation starts at
        ``times_day[0]`` from the model's ``initial_state`` (every state 0 if the
        model has none).
    params : mapping of str to array_like
        Every parameter and covariate the model reads; scalars or arrays of shape
        (1,) are shared, arrays of shape (n_patients,) are per patient.
    n_patients : int
        Number of patients, >= 1.
    solver : Solver, optional
        Default :class:`~mscsim.engine.FastSolver` (all patients at once, exact
        linear part); :class:`~mscsim.engine.ScipySolver` is the cross-check.
    engine : {"fast", "scipy"}, optional
        The built-in solver by name, with its default options (kept for
        compatibility; give ``solver`` or ``engine``, not both).
    on_failure : {"raise", "flag"}
        ``raise``: a failed patient raises :class:`IntegrationError`; ``flag``:
        its ``status`` is 1 and the run carries on.
    progress : callable, optional
        Called as ``progress(done, total)`` while the run advances.

    Returns
    -------
    SimulationResult

    Raises
    ------
    SpecError
        For an unknown engine, bad shapes or options.
    IntegrationError
        If integration fails and ``on_failure="raise"``.
    """
    if engine is not None:
        if solver is not None:
            raise SpecError("engine: give a solver or an engine name, not both")
        solver = solver_named(engine)
    solver = FastSolver() if solver is None else solver
    if on_failure not in ("raise", "flag"):
        raise SpecError(f"on_failure = {on_failure!r}: must be 'raise' or 'flag'")
    if n_patients < 1:
        raise SpecError(f"n_patients = {n_patients}: must be >= 1")
    p = param_table(params, n_patients)
    schedule = build_schedule(delivered_doses(doses, p), times_day)
    n_bytes = 8 * len(model.states) * n_patients * schedule.times_day.size
    if n_bytes > MAX_STATE_BYTES:
        raise SpecError(
            f"n_patients = {n_patients}: with {schedule.times_day.size} output times the states "
            f"need {n_bytes / 2**30:.1f} GiB, more than the {MAX_STATE_BYTES / 2**30:.0f} GiB "
            "one run may hold; use fewer patients or a coarser output_every_days"
        )
    y0 = initial_states(model, p, n_patients)
    run = solver.integrate(model, p, schedule, y0, progress=progress)
    if run.status.any() and on_failure == "raise":
        raise IntegrationError(f"{model.name}: integration failed ({run.message})")
    outputs = model.outputs(run.states, {k: v[:, None] for k, v in p.items()})
    return SimulationResult(
        model=model.name,
        engine=solver.name,
        times_day=schedule.times_day,
        state_names=tuple(model.states),
        states=run.states,
        outputs={k: np.broadcast_to(v, run.states.shape[1:]) for k, v in outputs.items()},
        status=run.status,
        message=run.message or "ok",
        n_steps=run.n_steps,
        n_rhs_evals=run.n_rhs_evals,
        patient_ids=np.arange(n_patients, dtype=np.int64),
    )
