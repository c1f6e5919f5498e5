"""Diagnostics of a fit: goodness of fit and a visual predictive check (VPC).

Both functions take arrays the analysis layer computed
(:func:`mscsim.analysis.fit.predict_observations`,
:func:`~mscsim.analysis.fit.weighted_residuals`,
:func:`~mscsim.analysis.fit.simulate_observations`) and return a pyplot-free
:class:`matplotlib.figure.Figure`.

In the VPC, observed and simulated values are binned by time; each bin's 5th,
50th and 95th percentiles of the observations are drawn over the 90% range of
the same percentiles across simulated replicates of the design, as described by
Bergstrand et al. 2011 (AAPS J 13:143-151, doi:10.1208/s12248-011-9255-z),
whose prediction correction is not applied here. Values below a limit of
quantification, observed or simulated, are counted at the limit, so censoring
treats both alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mscsim.analysis.fit import weighted_residuals
from mscsim.analysis.observation import ResidualError
from mscsim.errors import SpecError
from mscsim.models.base import Array
from mscsim.problem.data import Observations
from mscsim.report.plots import axis_label, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["VPC_PERCENTILES", "output_label", "plot_gof", "plot_vpc", "time_bins"]

VPC_PERCENTILES: tuple[float, float, float] = (5.0, 50.0, 95.0)
"""Percentiles of the observations a VPC draws."""

MAX_EXACT_BINS = 12
"""Up to this many distinct times each is its own bin; more are grouped by quantiles."""

_COLORS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")


def output_label(name: str) -> str:
    """Return an axis label for an observed output, e.g. ``Viable cells at target (count)``."""
    if name.startswith("cells_"):
        place = name.removeprefix("cells_").replace("_", " ")
        return f"Viable cells at {place} (count)"
    return axis_label(name)


def _positive(values: Array) -> bool:
    finite = values[np.isfinite(values)]
    return bool(finite.size and np.all(finite > 0))


def _check(observations: Observations, values: Array, what: str) -> Array:
    values = np.asarray(values, dtype=float)
    if values.shape[-1:] != (len(observations),):
        raise SpecError(f"{what}: need {len(observations)} values per row, one per observation")
    return values


def plot_gof(
    observations: Observations,
    predicted: Array,
    error: ResidualError,
    *,
    title: str = "Goodness of fit",
) -> Figure:
    """Plot observed against predicted values and weighted residuals against time and prediction.

    Parameters
    ----------
    observations : Observations
    predicted : ndarray, shape (n_observations,)
        Model value of each observation (individual predictions for a population fit).
    error : ResidualError
        The fitted residual error; residuals are divided by its SD.
    title : str
    """
    predicted = _check(observations, predicted, "predicted")
    measured = ~observations.blq
    residual = weighted_residuals(observations, predicted, error)
    fig, axes = new_figure(1, 3, width=13.0, height=4.2)
    ax_obs, ax_time, ax_pred = axes[0]
    names = observations.outputs
    for k, name in enumerate(names):
        rows = measured & np.array([o == name for o in observations.output])
        style = {"color": _COLORS[k % len(_COLORS)], "s": 14, "alpha": 0.7, "label": name}
        ax_obs.scatter(predicted[rows], observations.value[rows], **style)
        ax_time.scatter(observations.time_day[rows], residual[rows], **style)
        ax_pred.scatter(predicted[rows], residual[rows], **style)
    both = np.concatenate([predicted[measured], observations.value[measured]])
    log_scale = _positive(both)
    if both.size:
        span = [float(np.nanmin(both)), float(np.nanmax(both))]
        ax_obs.plot(span, span, color="black", linewidth=1, label="identity (observed = predicted)")
    if log_scale:
        ax_obs.set_xscale("log")
        ax_obs.set_yscale("log")
        ax_pred.set_xscale("log")
    unit = output_label(names[0]) if len(names) == 1 else "Value (unit of each output)"
    ax_obs.set_xlabel(f"Predicted: {unit}")
    ax_obs.set_ylabel(f"Observed: {unit}")
    ax_obs.legend(fontsize=8)
    for ax in (ax_time, ax_pred):
        ax.axhline(0.0, color="black", linewidth=1)
        for level in (-2.0, 2.0):
            ax.axhline(level, color="0.5", linewidth=1, linestyle="--")
        ax.set_ylabel("Weighted residual (observed - predicted) / SD")
    ax_time.set_xlabel("Time (day)")
    ax_pred.set_xlabel(f"Predicted: {unit}")
    censored = int(observations.blq.sum())
    note = f"; {censored} values below the limit of quantification not shown" if censored else ""
    fig.suptitle(f"{title} ({int(measured.sum())} observations{note})")
    return fig


def time_bins(times_day: Array, *, n_bins: int = 8) -> NDArray[np.intp]:
    """Return each time's bin index: one bin per distinct time when few, else quantile bins.

    Examples
    --------
    >>> time_bins(np.array([1.0, 1.0, 7.0])).tolist()
    [0, 0, 1]
    """
    times_day = np.asarray(times_day, dtype=float)
    distinct = np.unique(times_day)
    if distinct.size <= MAX_EXACT_BINS:
        return np.searchsorted(distinct, times_day).astype(np.intp)
    edges = np.unique(np.quantile(times_day, np.linspace(0.0, 1.0, n_bins + 1)))
    index = np.searchsorted(edges, times_day, side="right") - 1
    return np.clip(index, 0, edges.size - 2).astype(np.intp)


def _censor(values: Array, lloq: Array) -> Array:
    """Return the values with those below their limit at it (observed censored rows are NaN)."""
    limit = np.where(np.isfinite(lloq), lloq, -np.inf)
    out: Array = np.where(
        np.isnan(values) | (values < limit), np.where(np.isfinite(lloq), lloq, np.nan), values
    )
    return out


def _draw_vpc_panel(
    ax: Axes,
    observations: Observations,
    simulated: Array,
    rows: Array,
    name: str,
    percentiles: tuple[float, ...],
) -> None:
    times = observations.time_day[rows]
    bins = time_bins(times)
    observed = _censor(observations.value[rows], observations.lloq[rows])
    sim = _censor(simulated[:, rows], observations.lloq[rows][None, :])
    n_bins = int(bins.max()) + 1
    x = np.array([np.median(times[bins == b]) for b in range(n_bins)])
    ax.scatter(times, observed, s=8, color="0.45", alpha=0.5, label="observed values")
    styles = {5.0: "--", 50.0: "-", 95.0: "--"}
    for q in percentiles_sorted(percentiles):
        obs_q = np.array([np.nanpercentile(observed[bins == b], q) for b in range(n_bins)])
        sim_q = np.stack(
            [np.nanpercentile(sim[:, bins == b], q, axis=1) for b in range(n_bins)], axis=1
        )
        low, high = np.nanpercentile(sim_q, [5.0, 95.0], axis=0)
        color = "tab:red" if q == 50.0 else "tab:blue"
        ax.fill_between(
            x, low, high, color=color, alpha=0.2, linewidth=0, label=f"simulated {q:g}th: 90% range"
        )
        ax.plot(
            x,
            obs_q,
            color=color,
            linestyle=styles.get(q, ":"),
            marker="o",
            markersize=4,
            label=f"observed {q:g}th percentile",
        )
    limits = observations.lloq[rows]
    if np.any(np.isfinite(limits)):
        ax.axhline(
            float(np.nanmin(limits)),
            color="black",
            linewidth=1,
            linestyle=":",
            label="limit of quantification",
        )
    if _positive(np.concatenate([observed, sim.reshape(-1)])):
        ax.set_yscale("log")
    ax.set_xlabel("Time (day)")
    ax.set_ylabel(output_label(name))
    ax.set_title(name, loc="left", fontsize=10)
    ax.legend(fontsize=7)


def percentiles_sorted(percentiles: tuple[float, ...]) -> list[float]:
    """Return the percentiles in increasing order, each within (0, 100)."""
    out = sorted(float(q) for q in percentiles)
    if not out or any(not 0.0 < q < 100.0 for q in out):
        raise SpecError(f"percentiles = {list(percentiles)}: give values between 0 and 100")
    return out


def plot_vpc(
    observations: Observations,
    simulated: Array,
    *,
    percentiles: tuple[float, ...] = VPC_PERCENTILES,
    title: str = "Visual predictive check",
) -> Figure:
    """Plot observed percentiles by time bin over the simulated 90% bands of the same percentiles.

    Parameters
    ----------
    observations : Observations
    simulated : ndarray, shape (n_replicates, n_observations)
        Replicates of the design simulated at the estimates with residual error
        (and between-patient variability when fitted).
    percentiles : tuple of float
    title : str

    Returns
    -------
    Figure
        One panel per observed output; shaded: 5-95% of each simulated percentile
        (red for the median, blue for the others).
    """
    simulated = np.atleast_2d(_check(observations, simulated, "simulated"))
    names = observations.outputs
    fig, axes = new_figure(1, len(names), width=7.0 * len(names), height=4.8)
    for ax, name in zip(axes[0], names, strict=True):
        rows = np.array([o == name for o in observations.output])
        _draw_vpc_panel(ax, observations, simulated, rows, name, percentiles)
    fig.suptitle(
        f"{title}: observed percentiles over {simulated.shape[0]} simulated replicates"
        "\n(shaded: where 90% of the replicates put each percentile)",
        fontsize=10,
    )
    return fig
