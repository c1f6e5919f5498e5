"""Figures of sensitivity analyses: a tornado of local or Morris measures, Sobol bars.

Like :mod:`mscsim.report.plots`, every function returns a pyplot-free
:class:`matplotlib.figure.Figure`; :func:`~mscsim.report.plots.save_figure` writes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mscsim.errors import SpecError
from mscsim.report.plots import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_sobol", "plot_tornado"]

_HEIGHT_PER_ROW = 0.32
"""Inches of figure per parameter row."""


def _height(rows: int) -> float:
    return 1.6 + _HEIGHT_PER_ROW * rows


def _need(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SpecError(f"{what}: missing column {missing[0]!r}")


def plot_tornado(
    frame: pd.DataFrame, *, column: str = "elasticity", title: str | None = None
) -> Figure:
    """Plot one horizontal bar per parameter, largest magnitude on top.

    Parameters
    ----------
    frame : DataFrame
        ``parameter`` and ``column``: ``elasticity`` of a local sensitivity
        (signed) or ``mu_star`` of a Morris screening (with ``mu_star_conf`` as
        error bars when present).
    column : str
    title : str, optional
    """
    _need(frame, ("parameter", column), "tornado table")
    rows = frame.assign(_size=frame[column].abs()).sort_values("_size", na_position="first")
    fig, axes = new_figure(1, 1, width=7.0, height=_height(len(rows)))
    ax = axes[0, 0]
    values = rows[column].fillna(0.0).to_numpy(dtype=float)
    colors = np.where(values >= 0, "C0", "C3")
    error = rows.get(f"{column}_conf")
    ax.barh(
        rows["parameter"],
        values,
        color=colors,
        xerr=None if error is None else error.to_numpy(dtype=float),
        capsize=2,
    )
    ax.axvline(0.0, color="0.3", linewidth=0.8)
    labels = {
        "elasticity": "d log(summary) / d log(parameter) at the defaults",
        "mu_star": "Morris \N{GREEK SMALL LETTER MU}* (mean |elementary effect|)",
    }
    ax.set_xlabel(labels.get(column, column))
    ax.set_title(title or "Sensitivity")
    return fig


def plot_sobol(frame: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Plot first-order and total Sobol indices per parameter with their 95% intervals.

    Parameters
    ----------
    frame : DataFrame
        ``parameter, S1, S1_conf, ST, ST_conf`` (:meth:`SobolResult.to_frame`).
    title : str, optional
    """
    _need(frame, ("parameter", "S1", "S1_conf", "ST", "ST_conf"), "Sobol table")
    rows = frame.sort_values("ST")
    fig, axes = new_figure(1, 1, width=7.0, height=_height(len(rows)))
    ax = axes[0, 0]
    y = np.arange(len(rows))
    height = 0.38
    bars = (("ST", 1, "C1", "total (ST)"), ("S1", -1, "C0", "first order (S1)"))
    for index, side, color, label in bars:
        ax.barh(
            y + side * height / 2,
            rows[index],
            height,
            xerr=rows[f"{index}_conf"],
            capsize=2,
            color=color,
            label=label,
        )
    ax.set_yticks(y, rows["parameter"])
    ax.axvline(0.0, color="0.3", linewidth=0.8)
    ax.set_xlabel("Sobol index (share of the summary's variance), 95% interval")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "Sobol indices")
    return fig
