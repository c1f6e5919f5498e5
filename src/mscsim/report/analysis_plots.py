"""Figures of regimen comparisons and withdrawal analyses (matplotlib on demand)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mscsim.io.tables import atomic_path
from mscsim.report.plots import check_figure_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mscsim.analysis.withdrawal import Withdrawal, WithdrawalComparison

__all__ = ["plot_comparison", "plot_trial", "plot_withdrawal"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lower().lstrip("."), dpi=120)
    return path


def plot_comparison(
    courses: pd.DataFrame,
    path: str | Path,
    *,
    outcome: str | None = None,
    threshold: float | None = None,
    title: str | None = None,
) -> Path:
    """Plot viable cells, effect and the outcome (if any) over time for each regimen.

    Parameters
    ----------
    courses : DataFrame
        ``day``, ``regimen``, ``effect``, ``outcome`` and optionally ``cells_total``
        (from ``compare_splits(..., courses=True)``).
    path : str or Path
        ``.png``, ``.svg`` or ``.pdf``.
    outcome : str, optional
        Label of the outcome axis; without it only the effect is drawn.
    threshold : float, optional
        Effect threshold drawn as a dashed line.
    """
    path = check_figure_path(path)
    plt = _pyplot()
    kinds = ["cells"] if "cells_total" in courses else []
    kinds.append("effect")
    if outcome is not None and courses["outcome"].notna().any():
        kinds.append("outcome")
    fig, row = plt.subplots(
        1, len(kinds), figsize=(5.2 * len(kinds), 4.2), layout="constrained", squeeze=False
    )
    axes = dict(zip(kinds, row[0], strict=True))
    for label, part in courses.groupby("regimen", sort=False):
        style: dict[str, Any] = {"color": "grey", "linestyle": ":"} if label == "untreated" else {}
        if "cells" in axes and not str(label).startswith("untreated"):
            cells = part["cells_total"].where(part["cells_total"] >= 1.0)
            axes["cells"].plot(part["day"], cells, label=str(label), **style)
        axes["effect"].plot(part["day"], part["effect"], label=str(label), **style)
        if "outcome" in axes:
            axes["outcome"].plot(part["day"], part["outcome"], label=str(label), **style)
    if "cells" in axes:
        axes["cells"].set_yscale("log")
        axes["cells"].set_ylabel("viable cells in the body")
    if threshold is not None:
        axes["effect"].axhline(threshold, color="black", linewidth=0.8, linestyle="--")
    axes["effect"].set_ylabel("paracrine effect (0-1)")
    axes["effect"].set_ylim(-0.02, 1.02)
    if "outcome" in axes:
        axes["outcome"].set_ylabel(str(outcome))
    for ax in axes.values():
        ax.set_xlabel("day")
        ax.grid(True, alpha=0.3)
    axes["effect"].legend(loc="best", frameon=False, fontsize="small")
    fig.suptitle(title or "Same cells, different schedules")
    _save(fig, path)
    plt.close(fig)
    return path


def _withdrawal_panel(ax: Axes, w: Withdrawal, title: str) -> None:
    styles: dict[str, dict[str, Any]] = {
        "continued": {"color": "tab:green"},
        "stopped": {"color": "tab:red"},
        "untreated": {"color": "grey", "linestyle": ":"},
    }
    for course, part in w.courses.groupby("course", sort=False):
        ax.plot(part["day"], part["outcome"], label=str(course), **styles.get(str(course), {}))
    ax.axvline(w.stop_day, color="black", linewidth=0.8, linestyle="--")
    ax.set_title(title)
    ax.set_xlabel("day")
    ax.set_ylabel(f"{w.outcome} ({w.outcome_unit})")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", frameon=False, fontsize="small")


def plot_withdrawal(
    comparison: WithdrawalComparison, path: str | Path, *, title: str | None = None
) -> Path:
    """Plot stopped, untreated and continued courses: MSC beside the reference drug."""
    path = check_figure_path(path)
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
    msc, drug = comparison.msc, comparison.reference_drug
    _withdrawal_panel(left, msc, f"MSC: rebound {msc.rebound:.2g}")
    right_courses = drug.courses[drug.courses["day"] <= drug.stop_day + 30]
    zoomed = replace(drug, courses=right_courses)
    _withdrawal_panel(right, zoomed, f"Reference drug: rebound {drug.rebound:.2g}")
    right.set_xlim(max(0.0, drug.stop_day - 30), drug.stop_day + 30)
    fig.suptitle(title or "Stopping treatment: MSC vs a drug with tolerance")
    _save(fig, path)
    plt.close(fig)
    return path


def plot_trial(
    replicates: pd.DataFrame,
    summary: dict[str, Any],
    path: str | Path,
    *,
    power_curve: pd.DataFrame | None = None,
    title: str | None = None,
) -> Path:
    """Plot the estimates over replicates (and power against n per arm, if given).

    Parameters
    ----------
    replicates : DataFrame
        ``estimate`` and ``rejected`` per replicate (``run_trial(...).replicates``).
    summary : dict
        ``true_effect``, ``power``, ``endpoint``, ``alpha`` (``run_trial(...).summary``).
    power_curve : DataFrame, optional
        ``n_per_arm``, ``power``, ``power_se`` (``power_curve(...)``).
    """
    path = check_figure_path(path)
    plt = _pyplot()
    panels = 2 if power_curve is not None else 1
    fig, row = plt.subplots(
        1, panels, figsize=(6 * panels, 4.2), layout="constrained", squeeze=False
    )
    ax = row[0][0]
    estimates = replicates["estimate"].dropna()
    rejected = replicates.loc[estimates.index, "rejected"].astype(bool)
    bins = max(10, min(60, int(len(estimates) ** 0.5)))
    ax.hist(
        [estimates[~rejected], estimates[rejected]],
        bins=bins,
        stacked=True,
        label=["not significant", f"p < {summary['alpha']:g}"],
        color=["lightgrey", "tab:blue"],
    )
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.axvline(float(summary["true_effect"]), color="tab:red", linestyle="--", label="true effect")
    ax.set_xlabel(f"estimate, treated - control ({summary['endpoint']})")
    ax.set_ylabel("replicates")
    ax.set_title(f"power {float(summary['power']):.2f} over {len(replicates)} replicates")
    ax.legend(frameon=False, fontsize="small")
    if power_curve is not None:
        ax2 = row[0][1]
        ax2.errorbar(
            power_curve["n_per_arm"],
            power_curve["power"],
            yerr=1.96 * power_curve["power_se"],
            marker="o",
            capsize=3,
        )
        ax2.axhline(0.8, color="grey", linestyle=":", label="80%")
        ax2.axhline(float(summary["alpha"]), color="grey", linestyle="--", label="alpha")
        ax2.set_xscale("log")
        ax2.set_xticks(list(power_curve["n_per_arm"]))
        ax2.set_xticklabels([str(n) for n in power_curve["n_per_arm"]])
        ax2.minorticks_off()
        ax2.set_xlabel("patients per arm")
        ax2.set_ylabel("power")
        ax2.set_ylim(0, 1.02)
        ax2.legend(frameon=False, fontsize="small")
        ax2.grid(True, alpha=0.3)
    fig.suptitle(title or "Virtual trial")
    _save(fig, path)
    plt.close(fig)
    return path
