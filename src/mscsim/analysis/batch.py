"""Run several dose sets of one model as one problem (one simulated patient each)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from mscsim.engine.events import ResolvedDose, output_times
from mscsim.engine.result import SimulationResult
from mscsim.engine.solvers import Solver
from mscsim.errors import SpecError
from mscsim.models.base import Array, Model
from mscsim.problem.events import DoseEvents
from mscsim.problem.problem import Problem, solve

__all__ = ["DEFAULT_RESOLUTION_DAY", "analysis_times", "dose_sets_problem", "run_dose_sets"]

DEFAULT_RESOLUTION_DAY = 0.05
"""Output grid of analyses (1.2 h): effect AUCs and days above a threshold are read off it."""


def analysis_times(horizon_day: float, resolution_day: float = DEFAULT_RESOLUTION_DAY) -> Array:
    """Return the analysis output grid from day 0 to ``horizon_day`` (included)."""
    if not resolution_day > 0:
        raise SpecError(f"resolution_day = {resolution_day}: must be > 0")
    times = output_times(horizon_day, resolution_day)
    if horizon_day - times[-1] > 1e-9:
        times = np.append(times, horizon_day)
    return times


def dose_sets_problem(
    model: Model,
    params: Mapping[str, Array],
    dose_sets: Sequence[Sequence[ResolvedDose]],
    times_day: Array,
) -> Problem:
    """Return the problem whose patient ``i`` receives ``dose_sets[i]`` (shared parameters).

    Each dose's viable cells must have shape (1,); an empty set is the untreated course.
    """
    rows = []
    for i, doses in enumerate(dose_sets):
        for d in doses:
            if d.viable_cells.shape != (1,):
                raise SpecError("dose_sets: each dose must have one viable-cell value")
            rows.append((i, d.time_day, float(d.viable_cells[0]), d.route, d.duration_day))
    return Problem(model, params, DoseEvents.from_rows(rows), times_day, n_patients=len(dose_sets))


def run_dose_sets(
    model: Model,
    params: Mapping[str, Array],
    dose_sets: Sequence[Sequence[ResolvedDose]],
    times_day: Array,
    *,
    solver: Solver | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate one patient per dose set, each under its own doses only.

    Parameters are shared (shape (1,)). Patient ``i`` of the result received
    ``dose_sets[i]`` (an empty set is the untreated course); its course equals
    its own single-patient run (:func:`mscsim.problem.solve`).
    """
    problem = dose_sets_problem(model, params, dose_sets, times_day)
    return solve(problem, solver, progress=progress)
