"""Per-dose exposure: does each later dose deliver as much as the first.

The exposure of a dose is the area under the curve of viable cells in the whole
body from that dose to the next one (or to the end of the simulation), read off
the model's exact cumulative exposure (``total_exposure_cell_days``). With
autologous cells every dose delivers the same; with allogeneic cells a sensitised
host clears later doses faster, and spacing doses lets memory fade.

:func:`simulate_course` simulates a problem once for its result, its per-dose
exposure and its exact peaks (:mod:`mscsim.analysis.extrema`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mscsim.analysis.extrema import course_extrema
from mscsim.engine.events import TIME_TOL_DAY, ResolvedDose
from mscsim.engine.result import SimulationResult
from mscsim.engine.solvers import FastSolver, Solver
from mscsim.errors import SpecError
from mscsim.models.base import Array
from mscsim.problem.build import as_problem
from mscsim.problem.problem import Problem, solve
from mscsim.spec.scenario import Scenario

__all__ = [
    "DOSE_COLUMNS",
    "EXPOSURE_OUTPUT",
    "Course",
    "dose_exposures",
    "problem_dose_exposures",
    "simulate_course",
    "simulate_with_dose_exposures",
    "with_dose_times",
]

EXPOSURE_OUTPUT = "total_exposure_cell_days"
"""The cumulative whole-body exposure output a model needs for per-dose exposure."""

DOSE_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "dose_index",
    "day",
    "route",
    "viable_cells",
    "exposure_cell_days",
    "interval_days",
    "exposure_per_viable_cell_days",
)
"""Columns of :func:`dose_exposures`; ``exposure_per_viable_cell_days`` is the
exposure divided by the viable cells given (mean viable cell-days per cell)."""


def _positions(times: Array, wanted: Array) -> np.ndarray:
    right = np.clip(np.searchsorted(times, wanted), 0, times.size - 1)
    left = np.clip(right - 1, 0, times.size - 1)
    index = np.where(np.abs(times[left] - wanted) <= np.abs(times[right] - wanted), left, right)
    missing = np.abs(times[index] - wanted) > TIME_TOL_DAY
    if missing.any():
        raise SpecError(
            f"dose day = {wanted[missing][0]:g}: not an output time of the result; "
            "simulate with the dose days among the output times"
        )
    return index


def dose_exposures(result: SimulationResult, doses: Sequence[ResolvedDose]) -> pd.DataFrame:
    """Return one row per patient and dose: viable cells given and the exposure until the next.

    Parameters
    ----------
    result : SimulationResult
        Its output times must include every dose day and end at the horizon; it
        must have the output :data:`EXPOSURE_OUTPUT`.
    doses : sequence of ResolvedDose
        The doses simulated, in any order (rows come in time order). Doses given on
        the same day share that day's interval and exposure.

    Returns
    -------
    DataFrame
        Columns :data:`DOSE_COLUMNS`; no rows for an untreated course.

    Raises
    ------
    SpecError
        If the model has no cumulative exposure or a dose day is not an output time.
    """
    if EXPOSURE_OUTPUT not in result.outputs:
        raise SpecError(
            f"model {result.model}: has no {EXPOSURE_OUTPUT} output; per-dose exposure "
            "needs the full therapy model"
        )
    ordered = sorted(doses, key=lambda d: d.time_day)
    if not ordered:
        return _empty()
    times = result.times_day
    starts = np.array([d.time_day for d in ordered])
    distinct = np.unique(starts)
    ends = np.append(distinct[1:], times[-1])
    end_of = dict(zip(distinct.tolist(), ends.tolist(), strict=True))
    stops = np.array([end_of[s] for s in starts.tolist()])
    cumulative = result.output(EXPOSURE_OUTPUT)
    exposure = cumulative[:, _positions(times, stops)] - cumulative[:, _positions(times, starts)]
    n = result.n_patients
    ids = result.patient_ids if result.patient_ids.size == n else np.arange(n)
    cells = np.stack([np.broadcast_to(d.viable_cells, (n,)) for d in ordered], axis=1)
    frame = pd.DataFrame(
        {
            "patient_id": np.repeat(ids, len(ordered)),
            "dose_index": np.tile(np.arange(len(ordered)), n),
            "day": np.tile(starts, n),
            "route": np.tile([d.route.value for d in ordered], n),
            "viable_cells": cells.reshape(-1),
            "exposure_cell_days": exposure.reshape(-1),
            "interval_days": np.tile(stops - starts, n),
        }
    )
    frame["exposure_per_viable_cell_days"] = frame["exposure_cell_days"] / frame["viable_cells"]
    return frame


def _empty() -> pd.DataFrame:
    """Return the per-dose table of an untreated course: the columns, no rows."""
    dtypes = dict.fromkeys(DOSE_COLUMNS, "float64")
    dtypes.update(patient_id="int64", dose_index="int64", route="object")
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})


def simulate_with_dose_exposures(
    problem: Problem | Scenario,
    solver: Solver | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[SimulationResult, pd.DataFrame]:
    """Simulate ``problem`` and return its result with the per-dose exposure table.

    The run adds the dose days to the output times; the result returned has the
    problem's own output times only (:func:`simulate_course`).

    Examples
    --------
    Autologous cells: the second dose delivers what the first did.

    >>> from mscsim.problem import problem_from_scenario
    >>> from mscsim.spec import Scenario
    >>> s = Scenario.model_validate({
    ...     "patient": {"weight_kg": 70},
    ...     "product": {"source": "bone_marrow", "donor": "autologous"},
    ...     "dose": [{"route": "intramuscular", "cells": 5e7, "every_days": 60, "count": 2}],
    ...     "simulation": {"horizon_days": 120},
    ... })
    >>> _, table = simulate_with_dose_exposures(problem_from_scenario(s))
    >>> x = table["exposure_cell_days"].to_numpy()
    >>> round(float(x[1] / x[0]), 4)
    1.0
    """
    course = simulate_course(problem, solver, progress=progress)
    return course.result, course.dose_exposures()


@dataclass(frozen=True)
class Course:
    """A problem simulated at its output times and every dose day.

    Attributes
    ----------
    problem : Problem
        The model, parameters, dose events and output times simulated.
    run : SimulationResult
        The simulation at the problem's output times and every dose day.
    solver : Solver
        The solver that made ``run``, options included (:meth:`extrema` resumes
        with it).
    """

    problem: Problem
    run: SimulationResult
    solver: Solver = field(default_factory=FastSolver)

    @property
    def inputs(self) -> Problem:
        """The problem (the name this attribute had before problems)."""
        return self.problem

    @property
    def result(self) -> SimulationResult:
        """The simulation at the problem's own output times."""
        return self.run.take_times(np.searchsorted(self.run.times_day, self.problem.times_day))

    def dose_exposures(self) -> pd.DataFrame:
        """Return the per-dose exposure table, one row per patient and dose."""
        return problem_dose_exposures(self.run, self.problem)

    def to_frame(self) -> pd.DataFrame:
        """Return the result at the problem's output times (:meth:`SimulationResult.to_frame`)."""
        return self.result.to_frame()

    def extrema(self, outputs: Sequence[str] | None = None, level: float = 1.0) -> pd.DataFrame:
        """Return exact peaks, their days and last days at ``level`` (:func:`course_extrema`)."""
        return course_extrema(self.run, self.problem, self.solver, outputs=outputs, level=level)


def problem_dose_exposures(result: SimulationResult, problem: Problem) -> pd.DataFrame:
    """Return :func:`dose_exposures` for every patient of ``problem``, under its own doses.

    ``result`` is ``problem`` simulated with every dose day among its output times.
    Rows come by patient (in problem order), then dose.
    """
    parts = []
    for rows in problem.schedule_groups().values():
        part = replace(
            result,
            states=result.states[:, rows],
            outputs={k: v[rows] for k, v in result.outputs.items()},
            status=result.status[rows],
            patient_ids=result.patient_ids[rows],
        )
        table = dose_exposures(part, problem.events.doses_for(rows))
        parts.append(table.assign(_row=np.repeat(rows, len(table) // max(len(rows), 1))))
    frame = pd.concat(parts, ignore_index=True) if parts else _empty()
    if "_row" in frame:
        frame = frame.sort_values(["_row", "dose_index"], kind="stable").drop(columns="_row")
    return frame.reset_index(drop=True)


def simulate_course(
    problem: Problem | Scenario,
    solver: Solver | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Course:
    """Simulate ``problem`` at its output times and every dose day.

    Parameters
    ----------
    problem : Problem or Scenario
        A scenario stands for the problem of its patient
        (:func:`~mscsim.problem.problem_from_scenario`).
    solver : Solver, optional
        Default :class:`~mscsim.engine.FastSolver`.
    progress : callable, optional
        As in :func:`mscsim.problem.solve`.

    Examples
    --------
    One intravenous infusion: most cells sit in the lung within the first hour,
    between daily outputs.

    >>> from mscsim.problem import problem_from_scenario
    >>> from mscsim.spec import Scenario
    >>> s = Scenario.model_validate({
    ...     "patient": {"weight_kg": 70},
    ...     "product": {"source": "bone_marrow", "donor": "autologous"},
    ...     "dose": [{"route": "intravenous", "cells": 1e8, "infusion_hours": 1}],
    ...     "simulation": {"horizon_days": 28},
    ... })
    >>> course = simulate_course(problem_from_scenario(s))
    >>> lung = course.extrema(["cells_lung"]).iloc[0]
    >>> bool(lung["peak_day"] < 0.1), bool(lung["peak"] > course.result.output("cells_lung").max())
    (True, True)
    """
    problem = as_problem(problem)
    solver = FastSolver() if solver is None else solver
    times = with_dose_times(problem.times_day, problem.events.time_day)
    result = solve(problem.with_times(times), solver, progress=progress)
    return Course(problem, result, solver)


def with_dose_times(times_day: np.ndarray, dose_days: ArrayLike) -> np.ndarray:
    """Add each dose time to the output times, unless an output already falls on it.

    A dose within the engine's event tolerance of an output time is at that time
    (its output is the value just after the dose), so it adds no time of its own.
    """
    times = np.asarray(times_day, dtype=float)
    starts = np.unique(np.asarray(dose_days, dtype=float))
    if starts.size:
        nearest = np.min(np.abs(starts[:, None] - times[None, :]), axis=1)
        times = np.union1d(times, starts[nearest > TIME_TOL_DAY])
    return times
