"""Plain-figure summaries of simulation tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mscsim.analysis.doses import Course

__all__ = ["cell_summary", "course_cell_summary"]


def cell_summary(frame: pd.DataFrame, extrema: pd.DataFrame | None = None) -> pd.DataFrame:
    """Summarize each ``cells_*`` column of a simulation table (median over patients).

    Parameters
    ----------
    frame : DataFrame
        A table from ``SimulationResult.to_frame()``.
    extrema : DataFrame, optional
        :func:`~mscsim.analysis.extrema.course_extrema` of the same simulation for
        the ``cells_*`` outputs at level 1: peaks, their days and last days with a
        cell are then exact (each patient's, median over patients). Without it they
        are read off the output times of the median course.

    Returns
    -------
    DataFrame
        One row per compartment: ``peak_cells``, ``peak_day``, ``end_cells`` (at the
        last output time) and ``last_day_with_a_cell`` (last time with at least one
        viable cell; NaN if never).

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": 0, "time_day": [0.0, 1.0, 2.0],
    ...                   "cells_total": [1e6, 2.0, 0.5]})
    >>> cell_summary(t).loc["cells_total"].tolist()
    [1000000.0, 0.0, 0.5, 1.0]
    """
    columns = [c for c in frame.columns if c.startswith("cells_")]
    median = frame.groupby("time_day")[columns].median()
    times = median.index.to_numpy()
    rows = {}
    for col in columns:
        values = median[col].to_numpy()
        present = np.flatnonzero(values >= 1.0)
        rows[col] = {
            "peak_cells": float(values.max()),
            "peak_day": float(times[int(values.argmax())]),
            "end_cells": float(values[-1]),
            "last_day_with_a_cell": float(times[present[-1]]) if present.size else np.nan,
        }
    summary = pd.DataFrame.from_dict(rows, orient="index")
    if extrema is not None:
        exact = extrema.groupby("output")[["peak", "peak_day", "last_day_at_level"]].median()
        exact.columns = pd.Index(["peak_cells", "peak_day", "last_day_with_a_cell"])
        exact = exact.loc[exact.index.intersection(summary.index)]
        summary.loc[exact.index, exact.columns] = exact
    return summary


def course_cell_summary(course: Course) -> pd.DataFrame:
    """Summarize the viable cells of a simulated course, peaks and last days exact.

    :func:`cell_summary` of the course's result with its exact extrema at one cell.
    """
    frame = course.result.to_frame()
    names = [c for c in frame.columns if c.startswith("cells_")]
    return cell_summary(frame, course.extrema(names, level=1.0))
