"""Figures of simulation results (matplotlib, imported only when plotting)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mscsim.errors import SpecError
from mscsim.io.tables import atomic_path

__all__ = ["FIGURE_FORMATS", "check_figure_path", "plot_cells"]

FIGURE_FORMATS: tuple[str, ...] = (".png", ".svg", ".pdf")

_COMPARTMENTS = {
    "cells_lung": "lung",
    "cells_blood": "blood",
    "cells_liver_spleen": "liver / spleen",
    "cells_target": "target",
    "cells_total": "total",
}


def check_figure_path(path: str | Path, *, what: str = "figure") -> Path:
    """Refuse a figure path whose extension is not ``.png``, ``.svg`` or ``.pdf``."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise SpecError(
            f"{what} = {str(path)!r}: unknown figure format {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(FIGURE_FORMATS)}"
        )
    return path


def plot_cells(
    frame: pd.DataFrame, path: str | Path, *, log: bool = False, title: str | None = None
) -> Path:
    """Plot viable cells by compartment over time and save the figure atomically.

    With several patients the line is the median and the band spans the 5th to
    95th percentiles.

    Parameters
    ----------
    frame : DataFrame
        A table from ``SimulationResult.to_frame()`` (``time_day`` and ``cells_*``).
    path : str or Path
        ``.png``, ``.svg`` or ``.pdf``.
    log : bool
        Logarithmic cell axis.
    title : str, optional
    """
    path = check_figure_path(path)
    columns = [c for c in _COMPARTMENTS if c in frame.columns]
    if "time_day" not in frame.columns or not columns:
        raise SpecError(
            "table: needs time_day and cells_* columns (a table written by `mscsim simulate`)"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = frame.groupby("time_day")[columns]
    median = grouped.median()
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    many = frame.get("patient_id", pd.Series([0])).nunique() > 1
    for col in columns:
        total = col == "cells_total"
        ax.plot(
            median.index,
            median[col],
            label=_COMPARTMENTS[col],
            color="black" if total else None,
            linewidth=2.0 if total else 1.5,
        )
        if many:
            low, high = grouped[col].quantile(0.05), grouped[col].quantile(0.95)
            ax.fill_between(median.index, low, high, alpha=0.2)
    if log:
        # Fewer than one viable cell has no meaning; the axis stops there.
        ax.set_yscale("log")
        ax.set_ylim(bottom=1.0)
    ax.set_xlabel("day")
    ax.set_ylabel("viable cells")
    ax.set_title(title or "Viable MSCs by compartment")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best", frameon=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lower().lstrip("."), dpi=120)
    plt.close(fig)
    return path
