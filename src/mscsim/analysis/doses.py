"""Per-dose exposure: does each later dose deliver as much as the first.

The exposure of a dose is the area under the curve of viable cells in the whole
body from that dose to the next one (or to the end of the simulation), read off
the model's exact cumulative exposure (``total_exposure_cell_days``). With
autologous cells every dose delivers the same; with allogeneic cells a sensitised
host clears later doses faster, and spacing doses lets memory fade.

:func:`simulate_course` simulates a scenario once for its result, its per-dose
exposure and its exact peaks (:mod:`mscsim.analysis.extrema`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mscsim.analysis.extrema import course_extrema
from mscsim.engine.events import TIME_TOL_DAY, ResolvedDose
from mscsim.engine.integrate import EngineName, simulate
from mscsim.engine.result import SimulationResult
from mscsim.engine.scenario import ScenarioInputs, prepare_scenario
from mscsim.errors import SpecError
from mscsim.models.base import Array, Model
from mscsim.spec.scenario import Scenario

__all__ = [
    "DOSE_COLUMNS",
    "EXPOSURE_OUTPUT",
    "Course",
    "dose_exposures",
    "simulate_course",
    "simulate_with_dose_exposures",
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
    scenario: Scenario,
    *,
    model: Model | None = None,
    n_patients: int | None = None,
    engine: EngineName = "fast",
    allow_beyond_evidence: bool = False,
    allow_failed_lot: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[SimulationResult, pd.DataFrame]:
    """Simulate ``scenario`` and return its result with the per-dose exposure table.

    The run adds the dose days to the output times; the result returned has the
    scenario's own output times only (:func:`simulate_course`).

    Examples
    --------
    Autologous cells: the second dose delivers what the first did.

    >>> from mscsim.spec import Scenario
    >>> s = Scenario.model_validate({
    ...     "patient": {"weight_kg": 70},
    ...     "product": {"source": "bone_marrow", "donor": "autologous"},
    ...     "dose": [{"route": "intramuscular", "cells": 5e7, "every_days": 60, "count": 2}],
    ...     "simulation": {"horizon_days": 120},
    ... })
    >>> _, table = simulate_with_dose_exposures(s)
    >>> x = table["exposure_cell_days"].to_numpy()
    >>> round(float(x[1] / x[0]), 4)
    1.0
    """
    course = simulate_course(
        scenario,
        model=model,
        n_patients=n_patients,
        engine=engine,
        allow_beyond_evidence=allow_beyond_evidence,
        allow_failed_lot=allow_failed_lot,
        progress=progress,
    )
    return course.result, course.dose_exposures()


@dataclass(frozen=True)
class Course:
    """A scenario simulated at its output times and every dose day.

    Attributes
    ----------
    inputs : ScenarioInputs
        What the scenario resolved to: model, parameters, doses, output times.
    run : SimulationResult
        The simulation at the scenario's output times and every dose day.
    """

    inputs: ScenarioInputs
    run: SimulationResult

    @property
    def result(self) -> SimulationResult:
        """The simulation at the scenario's own output times."""
        return self.run.take_times(np.searchsorted(self.run.times_day, self.inputs.times_day))

    def dose_exposures(self) -> pd.DataFrame:
        """Return the per-dose exposure table (:func:`dose_exposures`)."""
        return dose_exposures(self.run, self.inputs.doses)

    def extrema(self, outputs: Sequence[str] | None = None, level: float = 1.0) -> pd.DataFrame:
        """Return exact peaks, their days and last days at ``level`` (:func:`course_extrema`)."""
        return course_extrema(
            self.run,
            self.inputs.model,
            self.inputs.doses,
            params=self.inputs.params,
            outputs=outputs,
            level=level,
        )


def simulate_course(
    scenario: Scenario,
    *,
    model: Model | None = None,
    n_patients: int | None = None,
    engine: EngineName = "fast",
    allow_beyond_evidence: bool = False,
    allow_failed_lot: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Course:
    """Simulate ``scenario`` at its output times and dose days.

    Parameters are those of :func:`mscsim.engine.simulate_scenario`.

    Examples
    --------
    One intravenous infusion: most cells sit in the lung within the first hour,
    between daily outputs.

    >>> from mscsim.spec import Scenario
    >>> s = Scenario.model_validate({
    ...     "patient": {"weight_kg": 70},
    ...     "product": {"source": "bone_marrow", "donor": "autologous"},
    ...     "dose": [{"route": "intravenous", "cells": 1e8, "infusion_hours": 1}],
    ...     "simulation": {"horizon_days": 28},
    ... })
    >>> course = simulate_course(s)
    >>> lung = course.extrema(["cells_lung"]).iloc[0]
    >>> bool(lung["peak_day"] < 0.1), bool(lung["peak"] > course.result.output("cells_lung").max())
    (True, True)
    """
    inputs = prepare_scenario(
        scenario,
        model=model,
        allow_beyond_evidence=allow_beyond_evidence,
        allow_failed_lot=allow_failed_lot,
    )
    result = simulate(
        inputs.model,
        inputs.doses,
        times_day=_with_dose_times(inputs.times_day, inputs.doses),
        params=inputs.params,
        n_patients=n_patients or scenario.simulation.n_patients,
        engine=engine,
        progress=progress,
    )
    return Course(inputs, result)


def _with_dose_times(times_day: np.ndarray, doses: Sequence[ResolvedDose]) -> np.ndarray:
    """Add each dose time to the output times, unless an output already falls on it.

    A dose within the engine's event tolerance of an output time is at that time
    (its output is the value just after the dose), so it adds no time of its own.
    """
    times = np.asarray(times_day, dtype=float)
    starts = np.array([d.time_day for d in doses], dtype=float)
    if starts.size:
        nearest = np.min(np.abs(starts[:, None] - times[None, :]), axis=1)
        times = np.union1d(times, starts[nearest > TIME_TOL_DAY])
    return times
