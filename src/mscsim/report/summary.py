"""Plain-figure summaries of simulation tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["cell_summary"]


def cell_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Summarize each ``cells_*`` column of a simulation table (median over patients).

    Parameters
    ----------
    frame : DataFrame
        A table from ``SimulationResult.to_frame()``.

    Returns
    -------
    DataFrame
        One row per compartment: ``peak_cells``, ``peak_day``, ``end_cells`` (at the
        last output time) and ``last_day_with_a_cell`` (last output time with at
        least one viable cell; NaN if never).

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
    return pd.DataFrame.from_dict(rows, orient="index")
