"""Run several dose sets of one model as one batch (one simulated patient each)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mscsim.engine.events import ResolvedDose, output_times
from mscsim.engine.integrate import EngineName, simulate
from mscsim.engine.result import SimulationResult
from mscsim.errors import SpecError
from mscsim.models.base import Array, Model

__all__ = ["DEFAULT_RESOLUTION_DAY", "analysis_times", "run_dose_sets"]

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


def run_dose_sets(
    model: Model,
    params: dict[str, Array],
    dose_sets: Sequence[Sequence[ResolvedDose]],
    times_day: Array,
    *,
    engine: EngineName = "fast",
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate one patient per dose set, all in one batch.

    Parameters are shared (shape (1,)); each dose's viable cells must have shape
    (1,). Patient ``i`` of the result received ``dose_sets[i]`` (an empty set is the
    untreated course).
    """
    n = len(dose_sets)
    merged = []
    for i, doses in enumerate(dose_sets):
        for d in doses:
            if d.viable_cells.shape != (1,):
                raise SpecError("dose_sets: each dose must have one viable-cell value")
            cells = np.zeros(n)
            cells[i] = d.viable_cells[0]
            merged.append(ResolvedDose(d.time_day, d.route, cells, d.duration_day))
    return simulate(
        model,
        merged,
        times_day=times_day,
        params=params,
        n_patients=n,
        engine=engine,
        progress=progress,
    )
