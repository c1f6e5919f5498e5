"""Figures of regimen comparisons, withdrawal analyses and virtual trials.

Like :mod:`mscsim.report.plots`, every function returns a pyplot-free
:class:`matplotlib.figure.Figure`; :func:`~mscsim.report.plots.save_figure` writes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mscsim.report.plots import (
    axis_label,
    mark_doses,
    new_figure,
    outcome_of,
    set_outcome_axis,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mscsim.analysis.withdrawal import Withdrawal, WithdrawalComparison
    from mscsim.models.diseases import Outcome

__all__ = ["plot_comparison", "plot_trial", "plot_withdrawal"]

_LINESTYLES = ("-", "--", "-.", (0, (1, 1)))
_UNTREATED: dict[str, Any] = {"color": "0.45", "linestyle": ":", "linewidth": 1.6, "zorder": 1}
WITHDRAWAL_ZOOM_DAYS: tuple[float, float] = (30.0, 60.0)
"""The lower panels of :func:`plot_withdrawal` show these days before and after the stop."""


def _regimen_styles(labels: list[str]) -> dict[str, dict[str, Any]]:
    """Colour, dash and width per regimen; earlier lines are wider so none hides another.

    Untreated courses are grey and dotted, under the others.
    """
    treated = [label for label in labels if not label.startswith("untreated")]
    widths = np.linspace(3.2, 1.3, len(treated)) if len(treated) > 1 else [1.8]
    styles = {
        label: {
            "color": f"C{i % 10}",
            "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
            "linewidth": float(widths[i]),
            "zorder": 2 + i,
        }
        for i, label in enumerate(treated)
    }
    for j, label in enumerate(lab for lab in labels if lab.startswith("untreated")):
        styles[label] = {**_UNTREATED, "color": str(0.45 + 0.15 * (j % 3))}
    return styles


def plot_comparison(
    courses: pd.DataFrame,
    *,
    outcome: str | Outcome | None = None,
    threshold: float | None = None,
    title: str | None = None,
    names: Mapping[str, str] | None = None,
) -> Figure:
    """Plot viable cells, effect and the outcome (if any) over time for each regimen.

    Panels share the day axis; doses are marked ▼ in each regimen's colour and the
    untreated course is grey and dotted.

    Parameters
    ----------
    courses : DataFrame
        ``day``, ``regimen``, ``effect``, ``outcome`` and optionally ``cells_total``
        and ``dose`` (from ``compare_splits(..., courses=True)`` or
        ``compare_scenarios(..., courses=True)``).
    outcome : str or Outcome, optional
        The outcome (a built-in name or an :class:`~mscsim.models.diseases.Outcome`);
        without it only cells and effect are drawn.
    threshold : float, optional
        Effect threshold drawn as a dashed line.
    title : str, optional
    names : mapping of str to str, optional
        Legend text for regimens (default: the ``regimen`` values).

    Returns
    -------
    Figure
    """
    names = names or {}
    info = outcome_of(outcome) if isinstance(outcome, str) else outcome
    name = outcome if isinstance(outcome, str) else None if outcome is None else outcome.name
    kinds = ["cells"] if "cells_total" in courses else []
    kinds.append("effect")
    if name is not None and courses["outcome"].notna().any():
        kinds.append("outcome")
    fig, column = new_figure(len(kinds), 1, width=9.5, height=1.2 + 2.5 * len(kinds), sharex=True)
    axes = dict(zip(kinds, column[:, 0], strict=True))
    labels = [str(label) for label in pd.unique(courses["regimen"])]
    styles = _regimen_styles(labels)
    top = axes[kinds[0]]
    for regimen in labels:
        part = courses[courses["regimen"] == regimen]
        style = styles[regimen]
        label = names.get(regimen, regimen)
        if "cells" in axes and not regimen.startswith("untreated"):
            cells = part["cells_total"].where(part["cells_total"] >= 1.0)
            axes["cells"].plot(part["day"], cells, label=label, **style)
        axes["effect"].plot(part["day"], part["effect"], label=label, **style)
        if "outcome" in axes:
            axes["outcome"].plot(part["day"], part["outcome"], label=label, **style)
    _mark_regimen_doses(top, courses, labels, styles)
    if "cells" in axes:
        axes["cells"].set_yscale("log")
        axes["cells"].set_ylabel("Viable cells in the body")
    if threshold is not None:
        axes["effect"].axhline(
            threshold, color="black", linewidth=0.8, linestyle="--", label="effect threshold"
        )
    axes["effect"].set_ylabel(axis_label("effect"))
    axes["effect"].set_ylim(-0.02, 1.02)
    if "outcome" in axes and name is not None:
        set_outcome_axis(axes["outcome"], name, info)
    for ax in axes.values():
        ax.grid(True, alpha=0.3)
    column[-1, 0].set_xlabel("Day")
    handles, texts = axes["effect"].get_legend_handles_labels()
    fig.legend(
        handles,
        texts,
        loc="outside lower center",
        ncols=2,
        frameon=False,
        fontsize="small",
        title="▼ dose (one row per regimen when their days differ)",
        title_fontsize="small",
    )
    fig.suptitle(title or "Regimens compared")
    return fig


def _mark_regimen_doses(
    ax: Axes, courses: pd.DataFrame, labels: list[str], styles: dict[str, dict[str, Any]]
) -> None:
    """Mark doses ▼: one black row when all regimens dose on the same days, else one each."""
    if "dose" not in courses:
        return
    days = {
        label: tuple(courses.loc[(courses["regimen"] == label) & courses["dose"], "day"])
        for label in labels
        if not label.startswith("untreated")
    }
    if len(set(days.values())) == 1:
        mark_doses(ax, next(iter(days.values())), label="_dose")
        return
    for row, (label, when) in enumerate(days.items()):
        mark_doses(ax, when, color=styles[label]["color"], row=row, label="_dose")


_COURSE_STYLES: dict[str, dict[str, Any]] = {
    "untreated": _UNTREATED,
    "continued": {"color": "tab:green", "linewidth": 2.6, "zorder": 2},
    "stopped": {"color": "tab:red", "linewidth": 1.4, "zorder": 3},
}
_COURSE_LABELS = {
    "continued": "continued",
    "stopped": "stopped",
    "untreated": "never treated",
}


def _withdrawal_panel(ax: Axes, w: Withdrawal, days: tuple[float, float]) -> None:
    part = w.courses[(w.courses["day"] >= days[0]) & (w.courses["day"] <= days[1])]
    for course in ("untreated", "continued", "stopped"):
        rows = part[part["course"] == course]
        if course == "stopped":  # the same as continued until the stop
            rows = rows[rows["day"] >= w.stop_day]
        ax.plot(
            rows["day"], rows["outcome"], label=_COURSE_LABELS[course], **_COURSE_STYLES[course]
        )
    ax.axvline(w.stop_day, color="black", linewidth=0.8, linestyle="--", label="treatment stops")
    ax.set_xlim(*days)
    set_outcome_axis(ax, w.outcome, outcome_of(w.outcome))
    ax.grid(True, alpha=0.3)


def _rebound_text(w: Withdrawal) -> str:
    if not w.rebound > 0:
        return "no rebound"
    return f"rebound {w.rebound:.2g} on day {w.rebound_day:.0f}"


def plot_withdrawal(comparison: WithdrawalComparison, *, title: str | None = None) -> Figure:
    """Plot stopped, never-treated and continued courses: MSC beside the reference drug.

    The upper panels cover the same days (the whole follow-up), the lower ones the
    same window around the stop (:data:`WITHDRAWAL_ZOOM_DAYS`).
    """
    msc, drug = comparison.msc, comparison.reference_drug
    both = pd.concat([msc.courses["day"], drug.courses["day"]])
    whole = (float(both.min()), float(both.max()))
    fig, axes = new_figure(2, 2, width=13.0, height=8.0, sharex="row")
    for col, (w, name) in enumerate(((msc, "MSC"), (drug, "Drug with tolerance, daily"))):
        _withdrawal_panel(axes[0, col], w, whole)
        before, after = WITHDRAWAL_ZOOM_DAYS
        zoom = (max(whole[0], w.stop_day - before), min(whole[1], w.stop_day + after))
        _withdrawal_panel(axes[1, col], w, zoom)
        axes[0, col].set_title(f"{name}: {_rebound_text(w)}", loc="left", fontsize=10)
        axes[1, col].set_xlabel("Day")
    if msc.stop_day == drug.stop_day:
        axes[1, 1].sharex(axes[1, 0])
    axes[0, 1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    fig.suptitle(title or "Stopping treatment: MSC beside a drug with tolerance")
    return fig


def _endpoint_words(endpoint: str) -> tuple[str, Outcome | None]:
    """Replace an output name in ``endpoint`` by words; return the outcome it names."""
    for name in re.findall(r"[a-z]+(?:_[a-z]+)+", endpoint):
        info = outcome_of(name)
        if info is not None:
            return endpoint.replace(name, axis_label(name, info)), info
    return endpoint, None


def plot_trial(
    replicates: pd.DataFrame,
    summary: dict[str, Any],
    *,
    power_curve: pd.DataFrame | None = None,
    title: str | None = None,
) -> Figure:
    """Plot the estimates over replicates (and power against n per arm, if given).

    Parameters
    ----------
    replicates : DataFrame
        ``estimate`` and ``rejected`` per replicate (``run_trial(...).replicates``).
    summary : dict
        ``true_effect``, ``power``, ``endpoint``, ``alpha`` (``run_trial(...).summary``).
    power_curve : DataFrame, optional
        ``n_per_arm``, ``power``, ``power_se`` (``power_curve(...)``).

    Returns
    -------
    Figure
    """
    panels = 2 if power_curve is not None else 1
    fig, row = new_figure(1, panels, width=6.5 * panels, height=4.6)
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
    ax.axvline(0.0, color="black", linewidth=0.8, label="no effect")
    ax.axvline(float(summary["true_effect"]), color="tab:red", linestyle="--", label="true effect")
    endpoint, info = _endpoint_words(str(summary["endpoint"]))
    better = ""
    if info is not None:
        better = (
            "; below 0: treated better" if info.higher_is_worse else "; above 0: treated better"
        )
    ax.set_xlabel(f"Estimated effect, treated \N{MINUS SIGN} control{better}\n({endpoint})")
    ax.set_ylabel("Simulated trials")
    power = float(summary["power"])
    ax.set_title(f"Power {power:.2f} over {len(replicates)} simulated trials", fontsize=10)
    ax.legend(frameon=False, fontsize="small")
    if power_curve is not None:
        ax2 = row[0][1]
        ax2.errorbar(
            power_curve["n_per_arm"],
            power_curve["power"],
            yerr=1.96 * power_curve["power_se"],
            marker="o",
            capsize=3,
            label="power (95% CI)",
        )
        ax2.axhline(0.8, color="grey", linestyle=":", label="80%")
        ax2.axhline(float(summary["alpha"]), color="grey", linestyle="--", label="alpha")
        ax2.set_xscale("log")
        ax2.set_xticks(list(power_curve["n_per_arm"]))
        ax2.set_xticklabels([str(n) for n in power_curve["n_per_arm"]])
        ax2.minorticks_off()
        ax2.set_xlabel("Patients per arm")
        ax2.set_ylabel("Power")
        ax2.set_ylim(0, 1.02)
        ax2.legend(frameon=False, fontsize="small")
        ax2.grid(True, alpha=0.3)
    fig.suptitle(title or "Virtual trial")
    return fig
