"""Figures of simulation results (matplotlib, imported only when plotting).

Every plotting function builds a :class:`matplotlib.figure.Figure` without pyplot
and returns it: the backend a notebook or script chose is never touched, and
:func:`save_figure` writes a figure to a file. Axis labels are words with units,
each outcome axis says which direction is worse, and doses are marked (▼).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mscsim.errors import MscsimWarning, SpecError
from mscsim.io.tables import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mscsim.engine.events import ResolvedDose
    from mscsim.engine.solvers import Solver
    from mscsim.models.base import Model
    from mscsim.models.diseases import Outcome
    from mscsim.problem.policy import EvidencePolicy
    from mscsim.spec.scenario import Scenario

__all__ = [
    "FEW_PATIENTS",
    "FIGURE_FORMATS",
    "PLOTTED_CELLS",
    "axis_label",
    "check_cell_table",
    "check_figure_path",
    "mark_doses",
    "new_figure",
    "outcome_of",
    "plot_cells",
    "plot_scenario",
    "product_label",
    "save_figure",
    "set_outcome_axis",
]

FIGURE_FORMATS: tuple[str, ...] = (".png", ".svg", ".pdf")

FEW_PATIENTS = 5
"""Up to this many patients each gets a thin line; more get a median and a 5-95% band."""

_COMPARTMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "cells_lung": ("lung", {"color": "tab:blue", "linestyle": "-"}),
    "cells_blood": ("blood", {"color": "tab:orange", "linestyle": "--"}),
    "cells_liver_spleen": ("liver / spleen", {"color": "tab:green", "linestyle": "-."}),
    "cells_liver": ("liver", {"color": "tab:green", "linestyle": "-."}),
    "cells_spleen": ("spleen", {"color": "tab:purple", "linestyle": ":"}),
    "cells_kidney": ("kidney", {"color": "tab:brown", "linestyle": "--"}),
    "cells_target": ("target (site of action)", {"color": "tab:red", "linestyle": "-"}),
}
_LABEL_PREFIX = "label_fraction_"
LABEL_ORGANS: tuple[str, ...] = ("lung", "blood", "liver", "spleen", "kidney", "target")
"""Organs whose label fraction :func:`plot_cells` draws (organ kinetics with a label)."""
_TOTAL = "cells_total"
PLOTTED_CELLS: tuple[str, ...] = (_TOTAL, *_COMPARTMENTS)
"""The cell outputs :func:`plot_cells` draws; a table needs at least one of them."""
_TOTAL_STYLE: dict[str, Any] = {"color": "0.55", "linewidth": 5.0, "alpha": 0.45, "zorder": 1}
"""The total is drawn wide and pale under the compartments, so a compartment holding
nearly every cell (the lung after an infusion) shows on top of it, not hidden."""

_LABELS: dict[str, str] = {
    "time_day": "Day",
    "cells_total": "Viable cells",
    "effect": "Paracrine effect (0-1)",
    "sara_score": "SARA score (points, 0-40)",
}
"""Labels that read better than ``name (unit)``; others are built from the metadata."""

MIN_OUTCOME_SPAN_SHARE = 0.1
"""An outcome axis spans at least this share of the outcome's scale (SARA 0-40: 4
points; ratios to the normal limb or to the untreated state: 0.1), so that a
fraction of a point does not fill the axis. A display choice, not a model value."""

_OUTCOME_SCALES: dict[str, tuple[float, float]] = {
    "sara_score": (0.0, 40.0),
    "perfusion_ratio": (0.0, 1.0),
    "inflammation_index": (0.0, 1.0),
    "response": (0.0, 1.0),
}
"""Full scale of each built-in outcome, or its reference 0-1 for ratios."""


def check_figure_path(path: str | Path, *, what: str = "figure") -> Path:
    """Refuse a figure path whose extension is not ``.png``, ``.svg`` or ``.pdf``."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise SpecError(
            f"{what} = {str(path)!r}: unknown figure format {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(FIGURE_FORMATS)}"
        )
    return path


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120, atomic: bool = True) -> Path:
    """Write ``fig`` to ``path`` (``.png``, ``.svg`` or ``.pdf``) atomically; return the path.

    ``atomic=False`` writes ``path`` directly (it is a temporary already, e.g. of an
    :class:`~mscsim.io.outputs.OutputSet`).
    """
    path = check_figure_path(path)
    with atomic_path(path) if atomic else contextlib.nullcontext(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lower().lstrip("."), dpi=dpi)
    return path


def new_figure(
    rows: int, columns: int, *, width: float, height: float, **kwargs: Any
) -> tuple[Figure, np.ndarray]:
    """Return ``(figure, axes)``: a pyplot-free figure and a 2-d array of its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False, **kwargs)
    return fig, np.asarray(axes)


def outcome_of(name: str) -> Outcome | None:
    """Return the built-in outcome called ``name`` (its unit and direction), if any."""
    from mscsim.models.diseases import DISEASES
    from mscsim.models.reference_drug import ReferenceDrug

    for cls in (*DISEASES.values(), ReferenceDrug):
        outcome: Outcome | None = getattr(cls, "outcome", None)
        if outcome is not None and outcome.name == name:
            return outcome
    return None


def axis_label(name: str, outcome: Outcome | None = None) -> str:
    """Return an axis label in words with its unit, e.g. ``Perfusion ratio (ischemic/normal limb)``.

    ``outcome`` gives the unit of an outcome that is not built in.
    """
    if name in _LABELS:
        return _LABELS[name]
    if name.startswith("cells_"):
        return "Viable cells"
    words = name.replace("_", " ").capitalize()
    outcome = outcome or outcome_of(name)
    if outcome is None:
        return words
    unit = outcome.unit.replace(" / ", "/").replace("x ", "\N{MULTIPLICATION SIGN} ")
    return f"{words} ({unit})"


def set_outcome_axis(ax: Axes, name: str, outcome: Outcome | None = None) -> None:
    """Label an outcome axis, state which direction is worse, and keep a sensible span.

    The span is at least :data:`MIN_OUTCOME_SPAN_SHARE` of the outcome's scale,
    widened around the data and kept within the scale.
    """
    outcome = outcome or outcome_of(name)
    ax.set_ylabel(axis_label(name, outcome))
    if outcome is not None:
        ax.set_title(outcome.direction.capitalize(), loc="right", fontsize=9)
    scale = _OUTCOME_SCALES.get(name)
    if scale is None:
        return
    low, high = ax.get_ylim()
    span = MIN_OUTCOME_SPAN_SHARE * (scale[1] - scale[0])
    if high - low >= span:
        return
    middle = 0.5 * (low + high)
    low, high = middle - span / 2, middle + span / 2
    if scale[0] <= middle and low < scale[0]:
        low, high = scale[0], scale[0] + span
    elif name == "sara_score" and high > scale[1]:
        low, high = scale[1] - span, scale[1]
    ax.set_ylim(low, high)


def mark_doses(
    ax: Axes, days: Sequence[float], *, color: str = "black", row: int = 0, label: str = "dose"
) -> None:
    """Mark dose days with ▼ along the top of ``ax`` (``row`` > 0 stacks marks lower)."""
    if len(days) == 0:
        return
    y = 1.0 - 0.045 * row
    ax.plot(
        list(days),
        [y] * len(days),
        linestyle="none",
        marker="v",
        markersize=6,
        color=color,
        transform=ax.get_xaxis_transform(),
        clip_on=False,
        label=label,
        zorder=5,
    )


@dataclass(frozen=True)
class _Course:
    """One output over time: a middle line, an optional band, or a few patients' lines."""

    times: np.ndarray
    middle: np.ndarray | None
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    lines: tuple[tuple[np.ndarray, np.ndarray], ...] = ()


def _is_summary(frame: pd.DataFrame) -> bool:
    return {"time_day", "output", "p50"} <= set(frame.columns)


def _outputs(frame: pd.DataFrame) -> list[str]:
    if _is_summary(frame):
        return [str(v) for v in pd.unique(frame["output"])]
    return [str(c) for c in frame.columns if c not in ("patient_id", "time_day")]


def check_cell_table(frame: pd.DataFrame, *, what: str = "table") -> None:
    """Refuse a frame that is not a (summary) table written by ``mscsim simulate``."""
    names = _outputs(frame) if "time_day" in frame.columns else []
    if not any(n in _COMPARTMENTS or n == _TOTAL for n in names) or frame.empty:
        raise SpecError(
            f"{what}: not a table written by `mscsim simulate` (needs time_day and cells_* "
            "columns, or the --summary columns time_day, output, p5, p50, p95)"
        )
    numeric = ["time_day"] + (
        [c for c in ("p5", "p50", "p95") if c in frame.columns] if _is_summary(frame) else names
    )
    wrong = [c for c in numeric if not pd.api.types.is_numeric_dtype(frame[c])]
    if wrong:
        raise SpecError(f"{what}: column {wrong[0]!r} holds values that are not numbers")


def _n_patients(frame: pd.DataFrame) -> int:
    if _is_summary(frame) or "patient_id" not in frame.columns:
        return 1
    return int(frame["patient_id"].nunique())


def _course(frame: pd.DataFrame, name: str) -> _Course:
    """Return output ``name`` of a wide (one row per patient and time) or summary table."""
    if _is_summary(frame):
        part = frame[frame["output"] == name].sort_values("time_day")
        band = {"p5", "p95"} <= set(part.columns)
        return _Course(
            part["time_day"].to_numpy(float),
            part["p50"].to_numpy(float),
            part["p5"].to_numpy(float) if band else None,
            part["p95"].to_numpy(float) if band else None,
        )
    n = _n_patients(frame)
    if n == 1:
        part = frame.sort_values("time_day")
        return _Course(part["time_day"].to_numpy(float), part[name].to_numpy(float))
    if n <= FEW_PATIENTS:
        lines = tuple(
            (p["time_day"].to_numpy(float), p[name].to_numpy(float))
            for _, p in frame.sort_values("time_day").groupby("patient_id", sort=True)
        )
        return _Course(lines[0][0], None, lines=lines)
    by_time = frame.groupby("time_day", sort=True)[name]
    q = by_time.quantile(np.array([0.05, 0.5, 0.95])).unstack()
    return _Course(
        q.index.to_numpy(float),
        q[0.5].to_numpy(float),
        q[0.05].to_numpy(float),
        q[0.95].to_numpy(float),
    )


def _draw(ax: Axes, course: _Course, label: str, style: dict[str, Any], floor: float) -> None:
    """Draw a course; values below ``floor`` are left out (fewer than one cell on a log axis)."""

    def cut(values: np.ndarray) -> np.ndarray:
        return np.where(values >= floor, values, np.nan)

    line_style = {"linewidth": 1.6, **style}
    if course.middle is not None:
        ax.plot(course.times, cut(course.middle), label=label, **line_style)
    for i, (t, v) in enumerate(course.lines):
        thin = {
            **line_style,
            "linewidth": 0.65 * line_style["linewidth"],
            "alpha": min(0.8, line_style.get("alpha", 1.0)),
        }
        ax.plot(t, cut(v), label=label if i == 0 else None, **thin)
    if course.low is not None and course.high is not None:
        color = style.get("color")
        high = cut(course.high)
        low = np.where(np.isnan(high), np.nan, np.maximum(course.low, floor))
        ax.fill_between(
            course.times,
            low,
            high,
            color=color,
            alpha=0.15 if color != _TOTAL_STYLE["color"] else 0.25,
            linewidth=0,
            zorder=0,
        )


def _spread_text(frame: pd.DataFrame) -> str:
    if _is_summary(frame):
        return "median and 5-95% of patients"
    n = _n_patients(frame)
    if n == 1:
        return ""
    if n <= FEW_PATIENTS:
        return f"{n} patients, one line each"
    return f"median and 5-95% of {n} patients"


def plot_cells(
    frame: pd.DataFrame,
    *,
    log: bool = False,
    title: str | None = None,
    dose_days: Sequence[float] = (),
) -> Figure:
    """Plot viable cells by compartment, then the effect and outcome (if any) over time.

    The total is a wide pale line under the compartments. One patient is a line; up
    to :data:`FEW_PATIENTS` patients a thin line each; more patients (or a summary
    table) the median with a band from the 5th to the 95th percentile.

    Parameters
    ----------
    frame : DataFrame
        A table written by ``mscsim simulate`` (``SimulationResult.to_frame()``:
        ``patient_id``, ``time_day``, ``cells_*`` ...) or by ``mscsim simulate
        --summary`` (``time_day``, ``output``, ``p5``, ``p50``, ``p95``).
    log : bool
        Logarithmic cell axis, from one cell.
    title : str, optional
    dose_days : sequence of float
        Days of the doses, marked ▼.

    Returns
    -------
    Figure

    Raises
    ------
    SpecError
        If ``frame`` is not such a table.
    """
    check_cell_table(frame)
    names = _outputs(frame)
    outcomes = [n for n in names if outcome_of(n) is not None]
    labelled = [o for o in LABEL_ORGANS if _LABEL_PREFIX + o in names]
    panels = (
        ["cells"]
        + (["label"] if labelled else [])
        + (["effect"] if "effect" in names else [])
        + outcomes
    )
    fig, axes = new_figure(len(panels), 1, width=8.5, height=1.2 + 2.6 * len(panels), sharex=True)
    column = axes[:, 0]
    cells = column[0]
    floor = 1.0 if log else -math.inf
    if _TOTAL in names:
        _draw(cells, _course(frame, _TOTAL), "total (whole body)", _TOTAL_STYLE, floor)
    for name, (label, style) in _COMPARTMENTS.items():
        if name in names:
            _draw(cells, _course(frame, name), label, style, floor)
    if log:
        cells.set_yscale("log")
        cells.set_ylim(bottom=1.0)
    cells.set_ylabel("Viable cells")
    cells.set_title("Viable MSCs by compartment", loc="right", fontsize=9)
    for ax, name in zip(column[1:], panels[1:], strict=True):
        if name == "label":
            _draw_label(ax, frame, labelled)
            continue
        _draw(ax, _course(frame, name), axis_label(name), {"color": "black"}, -math.inf)
        if name == "effect":
            ax.set_ylabel(axis_label(name))
            ax.set_ylim(-0.02, 1.02)
        else:
            set_outcome_axis(ax, name)
    for ax in column:
        mark_doses(ax, dose_days, label="dose" if ax is cells else "_dose")
        ax.grid(True, alpha=0.3)
    cells.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    column[-1].set_xlabel("Day")
    spread = _spread_text(frame)
    heading = title or "Viable MSCs, effect and outcome"
    fig.suptitle(f"{heading}\n({spread})" if spread else heading)
    return fig


def _draw_label(ax: Axes, frame: pd.DataFrame, organs: Sequence[str]) -> None:
    """Draw the label fraction of each organ (percent of the injected label)."""
    for organ in organs:
        name = _LABEL_PREFIX + organ
        course = _course(frame, name)
        scaled = _Course(
            course.times,
            None if course.middle is None else 100 * course.middle,
            None if course.low is None else 100 * course.low,
            None if course.high is None else 100 * course.high,
            lines=tuple((t, 100 * v) for t, v in course.lines),
        )
        style = _COMPARTMENTS.get(f"cells_{organ}", ("", {"color": "tab:orange"}))[1]
        _draw(ax, scaled, organ, style, -math.inf)
    ax.set_ylabel("Label (% of injected,\ndecay-corrected)")
    ax.set_ylim(-2, 102)
    ax.set_title("Label by organ (what imaging sees)", loc="right", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")


def plot_scenario(
    scenario: Scenario,
    *,
    log: bool = False,
    title: str | None = None,
    solver: Solver | None = None,
    policy: EvidencePolicy | None = None,
    model: Model | None = None,
) -> Figure:
    """Simulate ``scenario`` with dense output after every dose and plot it (:func:`plot_cells`).

    Output times are the scenario's grid refined after each dose and infusion end
    (:func:`mscsim.analysis.extrema.dense_times`), so peaks between grid points are
    drawn; doses are marked. A scenario with a ``[population]`` simulates
    ``simulation.n_patients`` patients. ``solver`` and ``policy`` are as in
    :func:`mscsim.simulate_scenario`; ``model`` replaces the scenario's
    :class:`~mscsim.models.TherapyModel` (it needs a cell output :func:`plot_cells` draws).
    """
    from mscsim.analysis.extrema import dense_times
    from mscsim.population import simulate_population
    from mscsim.problem import EvidencePolicy, problem_from_scenario, solve

    policy = EvidencePolicy() if policy is None else policy
    inputs = problem_from_scenario(scenario, model=model, policy=policy, n_patients=1)
    times = dense_times(inputs.doses, inputs.times_day)
    if scenario.population is None:
        frame = solve(inputs.with_times(times), solver).to_frame()
    else:
        with warnings.catch_warnings():  # said once by problem_from_scenario
            warnings.simplefilter("ignore", MscsimWarning)
            chunks = simulate_population(
                scenario, model=model, solver=solver, policy=policy, times_day=times
            )
            frame = pd.concat([c.result.to_frame() for c in chunks], ignore_index=True)
    days = sorted({d.time_day for d in inputs.doses})
    return plot_cells(
        frame, log=log, title=title or _regimen_title(scenario, inputs.doses), dose_days=days
    )


def _cells_text(cells: float) -> str:
    """Return ``5.98e7``-style text for a cell count."""
    if cells < 1e4:
        return f"{cells:.3g}"
    mantissa, exponent = f"{cells:.2e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _regimen_title(scenario: Scenario, doses: Sequence[ResolvedDose]) -> str:
    """Return e.g. ``Umbilical cord MSCs (allogeneic): 4 intravenous doses of 5.98e7 ...``."""
    product = scenario.product
    source = product.source.value.replace("_", " ").capitalize()
    head = f"{source} MSCs ({product.donor.value})"
    if not doses:
        return f"{head}: untreated course"
    routes = sorted({d.route.value.replace("_", " ") for d in doses})
    cells = sorted({float(np.median(d.viable_cells)) for d in doses})
    amount = _cells_text(cells[0])
    if len(cells) > 1:
        amount += f"-{_cells_text(cells[-1])}"
    days = sorted({d.time_day for d in doses})
    steps = np.diff(days)
    every = f", every {steps[0]:g} days" if steps.size and np.allclose(steps, steps[0]) else ""
    noun = "dose" if len(doses) == 1 else "doses"
    return f"{head}: {len(doses)} {' + '.join(routes)} {noun} of {amount} viable cells{every}"


def product_label(scenario: Scenario) -> str:
    """Describe a scenario's product and host in words, for legends.

    E.g. ``umbilical cord, allogeneic (HLA match 0.5), immunosuppression 0.8,
    viability 0.92, potency 1``.
    """
    from mscsim.evidence.sources import resolve_product

    spec = scenario.product
    product = resolve_product(spec, patient_age_years=scenario.patient.age_years)
    words = f"{spec.source.value.replace('_', ' ')}, {spec.donor.value}"
    if spec.is_allogeneic:
        words += f" (HLA match {product.hla_match:g})"
        if scenario.patient.immunosuppression > 0:
            words += f", immunosuppression {scenario.patient.immunosuppression:g}"
    return f"{words}, viability {product.viability:.2g}, potency {product.potency:.2g}"
