"""The engine's front function: simulate a model under a dose schedule."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from mscsim.engine.events import ResolvedDose, build_schedule
from mscsim.engine.fast import DEFAULT_MAX_STEP_DAY, integrate_fast
from mscsim.engine.reference_solver import DEFAULT_ATOL, DEFAULT_RTOL, integrate_scipy
from mscsim.engine.result import SimulationResult
from mscsim.errors import IntegrationError, SpecError
from mscsim.models.base import Array, Model, Params, n_param_rows

__all__ = ["ENGINES", "simulate"]

ENGINES: tuple[str, ...] = ("fast", "scipy")

MAX_STATE_BYTES = 4 * 2**30
"""Largest state array one in-memory run may hold (4 GiB); larger runs are refused."""

EngineName = Literal["fast", "scipy"]


def _as_params(params: Mapping[str, ArrayLike], n_patients: int) -> dict[str, Array]:
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
    engine: EngineName = "fast",
    max_step_day: float = DEFAULT_MAX_STEP_DAY,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    on_failure: Literal["raise", "flag"] = "raise",
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate ``n_patients`` patients of ``model`` receiving ``doses``.

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
    engine : {"fast", "scipy"}
        ``fast``: all patients at once, exact linear part (default). ``scipy``:
        ``solve_ivp`` (LSODA) per patient, the baseline and cross-check.
    max_step_day : float
        Largest step of the fast engine's nonlinear part; ignored for linear models.
    rtol, atol : float
        Tolerances of the scipy engine.
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
    if engine not in ENGINES:
        raise SpecError(f"engine = {engine!r}: must be one of {', '.join(ENGINES)}")
    if on_failure not in ("raise", "flag"):
        raise SpecError(f"on_failure = {on_failure!r}: must be 'raise' or 'flag'")
    if n_patients < 1:
        raise SpecError(f"n_patients = {n_patients}: must be >= 1")
    if not max_step_day > 0:
        raise SpecError(f"max_step_day = {max_step_day}: must be > 0")
    p = _as_params(params, n_patients)
    schedule = build_schedule(doses, times_day)
    n_bytes = 8 * len(model.states) * n_patients * schedule.times_day.size
    if n_bytes > MAX_STATE_BYTES:
        raise SpecError(
            f"n_patients = {n_patients}: with {schedule.times_day.size} output times the states "
            f"need {n_bytes / 2**30:.1f} GiB, more than the {MAX_STATE_BYTES / 2**30:.0f} GiB "
            "one run may hold; use fewer patients or a coarser output_every_days"
        )
    y0 = initial_states(model, p, n_patients)
    if engine == "fast":
        with np.errstate(under="ignore"):
            states, n_steps, n_rhs = integrate_fast(
                model, p, schedule, y0, max_step_day=max_step_day, progress=progress
            )
        bad = ~np.all(np.isfinite(states), axis=(0, 2))
        status = bad.astype(np.int8)
        message = f"{int(bad.sum())} patient(s) gave non-finite states" if bad.any() else ""
    else:
        states, status, n_steps, n_rhs, message = integrate_scipy(
            model, p, schedule, y0, rtol=rtol, atol=atol, progress=progress
        )
    if status.any() and on_failure == "raise":
        raise IntegrationError(f"{model.name}: integration failed ({message})")
    outputs = model.outputs(states, {k: v[:, None] for k, v in p.items()})
    return SimulationResult(
        model=model.name,
        engine=engine,
        times_day=schedule.times_day,
        state_names=tuple(model.states),
        states=states,
        outputs={k: np.broadcast_to(v, states.shape[1:]) for k, v in outputs.items()},
        status=status,
        message=message or "ok",
        n_steps=n_steps,
        n_rhs_evals=n_rhs,
        patient_ids=np.arange(n_patients, dtype=np.int64),
    )
