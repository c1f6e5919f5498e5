"""What the clinician page shows: each answer as a figure's data and a one-sentence reading.

:func:`answers` runs the analyses on one scenario and returns plain JSON data,
one section per question:

1. ``cells`` where the living cells are over time, by compartment (dense output
   after every dose, :func:`~mscsim.analysis.extrema.dense_times`), with a band:
   all living cells if the survival half-lives of the route's site were at the
   low or high end of the library's plausible range;
2. ``course`` the effect and the disease course beside the untreated course;
3. ``compare`` the same viable cells as one dose and as several
   (:func:`~mscsim.analysis.compare.compare_splits`);
4. ``withdrawal`` stopped, never treated and continued, beside the reference drug
   with tolerance and rebound (:func:`~mscsim.analysis.withdrawal.withdrawal_analysis`);
5. ``dose`` each distinct administration against the evidence for its route
   (:func:`~mscsim.evidence.assess_dose`), with sources;
6. ``guesses`` the parameters tagged G that the scenario's model uses, with
   their sources, and how much an answer depends on them
   (:mod:`mscsim.analysis.sensitivity`: a seeded Latin hypercube and local
   elasticities).

Readings are written from the numbers each section computes (``numbers``); no
verdict is fixed in advance. The analyses run once per scenario; the language
only changes the words (:func:`computed` is cached). No I/O here.

A figure is ``{"data": [...], "layout": {...}}`` in plotly's JSON shape: every
trace has its ``x`` and ``y`` lists, so any plotting library can draw it.
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np

from mscsim.analysis.batch import analysis_times, run_dose_sets
from mscsim.analysis.compare import Comparison, compare_splits
from mscsim.analysis.extrema import dense_times
from mscsim.analysis.metrics import time_above
from mscsim.analysis.withdrawal import (
    DEFAULT_FOLLOW_UP_DAYS,
    Withdrawal,
    msc_withdrawal,
    reference_drug_withdrawal,
)
from mscsim.engine.result import SimulationResult
from mscsim.errors import MscsimWarning, SpecError
from mscsim.evidence.doses import DoseAssessment
from mscsim.evidence.library import Parameter
from mscsim.models.diseases import Outcome
from mscsim.problem.events import DoseEvents
from mscsim.problem.policy import EvidencePolicy
from mscsim.problem.problem import Problem, solve
from mscsim.spec.scenario import Scenario
from mscsim.web import i18n
from mscsim.web.i18n import Lang, text

__all__ = [
    "COMPARTMENTS",
    "PAGE_RESOLUTION_DAY",
    "SECTIONS",
    "SURVIVAL_HALF_LIVES",
    "Computed",
    "answers",
    "computed",
]

PAGE_RESOLUTION_DAY = 0.25
"""Analysis grid of the page (6 h); the command line's is 1.2 h, so the page's
effect areas can differ from ``mscsim compare`` by a few percent."""
SURVIVAL_HALF_LIVES: tuple[str, ...] = (
    "lung_half_life_days",
    "liver_spleen_half_life_days",
    "target_half_life_days",
)
"""The cell survival half-lives set to their plausible ends for the band of figure 1."""
COMPARTMENTS: tuple[str, ...] = ("cells_lung", "cells_blood", "cells_liver_spleen", "cells_target")
SECTIONS: tuple[str, ...] = ("cells", "course", "compare", "withdrawal", "dose", "guesses")
SENSITIVITY_RUNS = 20
"""Parameter sets of the Latin hypercube over the guesses (seed 0)."""
TOLERANCE_NONE = 0.95
"""A tolerance index from this to 1/this reads as "about as much"."""
ONE_CELL = 1.0
COLORS = {
    "cells_lung": "#1f77b4",
    "cells_blood": "#d62728",
    "cells_liver_spleen": "#9467bd",
    "cells_target": "#2ca02c",
    "total": "#222222",
    "band": "rgba(100,100,100,0.18)",
    "treated": "#1f77b4",
    "untreated": "#7f7f7f",
    "stopped": "#ff7f0e",
    "continued": "#2ca02c",
}


# --- the computation (language-free) -------------------------------------------------------


@dataclass(frozen=True)
class Computed:
    """The numbers behind every answer of one scenario, before any words."""

    scenario: Scenario
    problem: Problem
    cells: dict[str, Any]
    course: dict[str, Any]
    compare: dict[str, Any]
    withdrawal: dict[str, Any]
    dose: list[dict[str, Any]]
    guesses: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


_CACHE: OrderedDict[tuple[str, bool, bool, float], Computed] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 16


def computed(
    scenario: Scenario,
    *,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
    resolution_day: float = PAGE_RESOLUTION_DAY,
) -> Computed:
    """Return the numbers of every answer for ``scenario`` (cached for the last 16).

    Raises
    ------
    SpecError
        As :func:`~mscsim.problem.problem_from_scenario` (a dose beyond the
        evidence or a failed lot unless ``policy`` allows it).
    """
    key = (
        scenario.model_dump_json(serialize_as_any=True),
        policy.allow_beyond_evidence,
        policy.allow_failed_lot,
        resolution_day,
    )
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    result = _compute(scenario, policy, resolution_day)
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def _compute(scenario: Scenario, policy: EvidencePolicy, resolution_day: float) -> Computed:
    from mscsim.problem.build import problem_from_scenario

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MscsimWarning)
        problem = problem_from_scenario(scenario, policy=policy, n_patients=1)
        parts = Computed(
            scenario=scenario,
            problem=problem,
            cells=_cells(problem),
            course=_course(scenario, problem, resolution_day),
            compare=_compare(scenario, problem, policy, resolution_day),
            withdrawal=_withdrawal(scenario, problem, policy, resolution_day),
            dose=_doses(problem),
            guesses=_guesses(scenario, problem),
        )
    shown = list(dict.fromkeys(str(w.message) for w in caught if w.category is MscsimWarning))
    return replace(parts, warnings=shown)


def _series(values: np.ndarray, digits: int = 5) -> list[float | None]:
    """Return values rounded to ``digits`` significant digits; NaN as ``None``."""
    out: list[float | None] = []
    for v in np.asarray(values, dtype=float).tolist():
        if not math.isfinite(v):
            out.append(None)
        elif v == 0:
            out.append(0.0)
        else:
            out.append(float(f"{v:.{digits}g}"))
    return out


def _dose_days(problem: Problem) -> list[float]:
    return sorted({d.time_day for d in problem.doses})


def _last_at_or_above(times: np.ndarray, values: np.ndarray, level: float) -> float | None:
    """Return the last time ``values`` is at or above ``level`` (``None`` if never)."""
    above = np.nonzero(values >= level)[0]
    return None if above.size == 0 else float(times[above[-1]])


def _cells(problem: Problem) -> dict[str, Any]:
    """Simulate the cells densely, at the default half-lives and at both plausible ends."""
    days = _dose_days(problem)
    if not days:
        return {"dose_days": []}
    model = problem.model
    site = problem.site
    by_name = {p.name: p for p in model.parameters}
    params = {k: np.repeat(v, 3) for k, v in problem.params.items()}
    varied = []
    for name in SURVIVAL_HALF_LIVES:
        if name in by_name and name in params:
            low, high = by_name[name].default(site).plausible
            params[name] = np.array([params[name][0], low, high])
            varied.append({"name": name, "low": low, "high": high})
    times = dense_times(problem.doses, problem.times_day)
    three = Problem(model, params, DoseEvents.shared(problem.doses, 3), times, n_patients=3)
    result = solve(three)
    names = [c for c in COMPARTMENTS if c in result.outputs]
    total = result.output("cells_total")
    peaks = {}
    for c in names:
        y = result.output(c)[0]
        i = int(np.argmax(y))
        peaks[c] = {"peak": float(y[i]), "day": float(times[i]), "cell_days": _area(times, y)}
    return {
        "times": times,
        "compartments": {c: result.output(c)[0] for c in names},
        "total": total,
        "peaks": peaks,
        "where": max(peaks, key=lambda c: peaks[c]["cell_days"]) if peaks else None,
        "gone": [_last_at_or_above(times, total[i], ONE_CELL) for i in range(3)],
        "end": float(times[-1]),
        "left": float(total[0, -1]),
        "dose_days": days,
        "varied": varied,
        "site": site,
    }


def _area(times: np.ndarray, values: np.ndarray) -> float:
    return float(np.trapezoid(values, times))


def _outcome(problem: Problem) -> Outcome | None:
    return getattr(problem.model, "outcome", None)


def _course(scenario: Scenario, problem: Problem, resolution_day: float) -> dict[str, Any]:
    """Simulate the scenario and its untreated course on the analysis grid."""
    horizon = scenario.simulation.horizon_days
    days = _dose_days(problem)
    times = np.union1d(analysis_times(horizon, resolution_day), days)
    result: SimulationResult = run_dose_sets(
        problem.model, problem.params, [problem.doses, ()], times
    )
    effect = result.output("effect")
    outcome = _outcome(problem)
    out: dict[str, Any] = {
        "times": times,
        "effect": effect[0],
        "days_above_half": float(time_above(times, effect[0], 0.5)),
        "dose_days": days,
        "outcome": None,
    }
    if outcome is not None:
        course = result.output(outcome.name)
        out["outcome"] = {
            "name": outcome.name,
            "higher_is_worse": outcome.higher_is_worse,
            "treated": course[0],
            "untreated": course[1],
        }
    return out


def _splits(problem: Problem) -> list[int]:
    n = len(_dose_days(problem))
    return sorted({1, 2, 4, n})


def _compare(
    scenario: Scenario, problem: Problem, policy: EvidencePolicy, resolution_day: float
) -> dict[str, Any]:
    if not problem.doses:
        return {"refused": "why_no_doses"}
    splits = _splits(problem)
    try:
        result: Comparison = compare_splits(
            scenario, splits, policy=policy, resolution_day=resolution_day
        )
    except SpecError as err:
        if "horizon" in str(err) and len(splits) > 1:
            return {"refused": "why_horizon", "detail": str(err)}
        raise
    table = result.table
    rows = []
    for _, r in table.iterrows():
        rows.append(
            {
                "n_doses": int(r["n_doses"]),
                "interval_days": float(r["interval_days"]),
                "viable_cells_per_dose": float(r["viable_cells_per_dose"]),
                "total_viable_cells": float(r["total_viable_cells"]),
                "effect_auc": float(r["effect_auc"]),
                "days_above_half": float(r["days_above_threshold"]),
                "outcome_end": float(r["outcome_end"]),
                "label": str(r["regimen"]),
            }
        )
    courses = {
        label: {
            "day": group["day"].to_numpy(),
            "effect": group["effect"].to_numpy(),
            "outcome": group["outcome"].to_numpy(),
        }
        for label, group in result.courses.groupby("regimen", sort=False)
    }
    return {"rows": rows, "courses": courses, "higher_is_worse": table.attrs["higher_is_worse"]}


@lru_cache(maxsize=8)
def _drug(first: float, stop: float, horizon: float, resolution_day: float) -> Withdrawal:
    return reference_drug_withdrawal(first, stop, horizon, resolution_day=resolution_day)


def _withdrawal(
    scenario: Scenario, problem: Problem, policy: EvidencePolicy, resolution_day: float
) -> dict[str, Any]:
    days = _dose_days(problem)
    if not days:
        return {"refused": "why_no_doses"}
    if _outcome(problem) is None:
        return {"refused": "why_no_disease"}
    if len(days) < 2:
        return {"refused": "why_one_dose"}
    msc = msc_withdrawal(
        scenario,
        follow_up_days=DEFAULT_FOLLOW_UP_DAYS,
        resolution_day=resolution_day,
        policy=policy,
    )
    horizon = float(msc.courses["day"].max())
    drug = _drug(days[0], msc.stop_day, horizon, resolution_day)
    return {"msc": msc, "drug": drug}


def _doses(problem: Problem) -> list[dict[str, Any]]:
    return [{"assessment": a} for a in problem.assessments]


def _guess_parameters(problem: Problem) -> list[Parameter]:
    site = problem.site
    return [p for p in problem.model.parameters if p.default(site).evidence == "G"]


def _guesses(scenario: Scenario, problem: Problem) -> dict[str, Any]:
    site = problem.site
    params = _guess_parameters(problem)
    listed = [
        {
            "parameter": p,
            "value": float(problem.params[p.name][0]),
            "plausible": p.default(site).plausible,
            "source": p.default(site).source,
        }
        for p in params
    ]
    return {"listed": listed, "sensitivity": _sensitivity(scenario, problem)}


def _sensitivity(scenario: Scenario, problem: Problem) -> dict[str, Any] | None:
    """Return the answer's 5-95% range over the guesses and its largest elasticities.

    ``None`` when :mod:`mscsim.analysis.sensitivity` is not there.
    """
    try:
        from mscsim.analysis import sensitivity
    except ImportError:  # pragma: no cover - the module is optional for the page
        return None
    if not problem.doses:
        return None
    summary = "outcome_change" if _outcome(problem) is not None else "target_cell_days"
    space = sensitivity.scenario_space(scenario)
    spread = sensitivity.uncertainty(summary, space, scenario, n=SENSITIVITY_RUNS, seed=0)
    local = sensitivity.local_sensitivity(summary, space, scenario)
    elasticity = {
        n: float(e)
        for n, e in zip(local.names, local.elasticity, strict=True)
        if math.isfinite(float(e))
    }
    return {
        "summary": summary,
        "interval": spread.interval(),
        "runs": SENSITIVITY_RUNS,
        "value": local.value,
        "elasticity": elasticity,
    }


# --- words and figures ---------------------------------------------------------------------


def answers(
    scenario: Scenario,
    lang: str = "en",
    *,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
    resolution_day: float = PAGE_RESOLUTION_DAY,
) -> dict[str, Any]:
    """Return everything the page shows for ``scenario``, in ``lang`` (``"en"`` or ``"zh"``).

    Returns
    -------
    dict
        JSON-safe: ``lang``, ``title``, ``scenario`` (the input as JSON),
        ``sections`` (one per :data:`SECTIONS`, each ``id``, ``title``,
        ``figure`` or ``None``, ``reading``, ``numbers`` and, where there are any,
        ``sources``), and ``warnings`` (the library's own lines, in English).

    Raises
    ------
    SpecError
        For a language other than ``en`` / ``zh``, or as :func:`computed`.
    """
    language = i18n.check_lang(lang)
    c = computed(scenario, policy=policy, resolution_day=resolution_day)
    sections = [
        _cells_section(c, language),
        _course_section(c, language),
        _compare_section(c, language),
        _withdrawal_section(c, language),
        _dose_section(c, language),
        _guess_section(c, language),
    ]
    return {
        "lang": language,
        "title": text("title", language),
        "scenario": scenario.model_dump(mode="json", exclude_none=True, serialize_as_any=True),
        "sections": sections,
        "warnings": c.warnings,
    }


def _section(
    key: str,
    lang: Lang,
    figure: dict[str, Any] | None,
    reading: str,
    numbers: dict[str, Any],
    sources: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": key,
        "title": text(f"{key}_title", lang),
        "figure": figure,
        "reading": reading,
        "numbers": _json(numbers),
    }
    if sources is not None:
        out["sources"] = sources
    return out


def _refused_section(key: str, why: str, lang: Lang) -> dict[str, Any]:
    """Return a section whose analysis does not apply: no figure, the reason (``why_...``)."""
    reading = text(f"r_{key}_refused", lang, why=text(why, lang))
    return _section(key, lang, None, reading, {"refused": why})


def _json(value: Any) -> Any:
    """Return ``value`` with NaN and infinities as ``None`` (numbers stay numbers)."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _day(x: float, lang: Lang) -> str:
    return i18n.number(x, lang, 3) if x < 100 else f"{x:.0f}"


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "automargin": True, **extra}


def _layout(lang: Lang, **extra: Any) -> dict[str, Any]:
    return {
        "margin": {"l": 70, "r": 20, "t": 30, "b": 60},
        "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"},
        "hovermode": "x unified",
        "font": {"family": "sans-serif", "size": 13},
        **extra,
    }


def _markers(
    days: Sequence[float], lang: Lang, xref: str = "x", label: str = "dose_marker"
) -> list[dict[str, Any]]:
    """Return vertical dotted lines at ``days``, the first named in the legend."""
    return [
        {
            "type": "line",
            "xref": xref,
            "yref": "paper",
            "x0": d,
            "x1": d,
            "y0": 0,
            "y1": 1,
            "line": {"dash": "dot", "color": "#555", "width": 1},
            "name": text(label, lang),
            "showlegend": i == 0,
            "legendgroup": label,
        }
        for i, d in enumerate(days)
    ]


def _outcome_axis(name: str, higher_is_worse: bool, lang: Lang) -> str:
    label = text(f"outcome_{name}", lang) if i18n.has_text(f"outcome_{name}") else name
    direction = text("worse_up" if higher_is_worse else "worse_down", lang)
    return f"{label}, {direction}"


def _unit(name: str, lang: Lang) -> str:
    """Return the outcome's unit to follow a number (`` points`` / ``分``; may be empty)."""
    key = f"unit_{name}"
    unit = text(key, lang) if i18n.has_text(key) else ""
    return f" {unit}" if unit and lang == "en" else unit


def _outcome_words(name: str, lang: Lang) -> str:
    key = f"oname_{name}"
    return text(key, lang) if i18n.has_text(key) else name


def _when(day: float, first_dose: float, lang: Lang) -> str:
    """Return "on day 90", or "1 h after the first dose" within a day of it."""
    if day - first_dose < 1 / 1440:
        return text("when_now", lang)
    if day - first_dose < 1:
        return text("when_start", lang, h=_duration(day - first_dose, lang))
    return text("when_day", lang, d=_day(day, lang))


# 1. cells


def _cells_section(c: Computed, lang: Lang) -> dict[str, Any]:
    x = c.cells
    if not x["dose_days"]:
        return _section("cells", lang, None, text("r_no_doses", lang), {})
    times = x["times"]
    data: list[dict[str, Any]] = []
    high, low = x["total"][2], x["total"][1]
    data.append(_line(times, np.where(high >= ONE_CELL, high, np.nan), "", "band", lang))
    data[-1].update(
        line={"width": 0}, showlegend=False, hoverinfo="skip", name=text("band_high", lang)
    )
    # The low edge stops at the axis floor (one cell) wherever the high edge is drawn, so
    # the band never has a gap of its own that plotly's fill would bridge with a wedge.
    floor = np.where(high >= ONE_CELL, np.maximum(low, ONE_CELL), np.nan)
    band = _line(times, floor, text("band", lang), "band", lang)
    band.update(fill="tonexty", fillcolor=COLORS["band"], line={"width": 0})
    data.append(band)
    for name, y in x["compartments"].items():
        data.append(_line(times, np.where(y >= ONE_CELL, y, np.nan), text(name, lang), name, lang))
    total = x["total"][0]
    data.append(
        _line(times, np.where(total >= ONE_CELL, total, np.nan), text("total", lang), "total", lang)
    )
    data[-1]["line"]["width"] = 2.5
    figure = {
        "data": data,
        "layout": _layout(
            lang,
            xaxis=_axis(text("day_axis", lang)),
            yaxis=_axis(text("cells_axis", lang), type="log", exponentformat="power"),
            shapes=_markers(x["dose_days"], lang),
            height=460,
        ),
    }
    where = x["where"]
    peak = x["peaks"][where]
    gone = x["gone"]
    values = {
        "where": text(where, lang),
        "peak": i18n.cells(peak["peak"], lang),
        "when": _when(peak["day"], x["dose_days"][0], lang),
    }
    if x["left"] >= ONE_CELL:
        reading = text(
            "r_cells_still",
            lang,
            **values,
            left=i18n.cells(x["left"], lang),
            end=_day(x["end"], lang),
        )
    else:
        ends = [g for g in gone[1:] if g is not None]
        last = x["dose_days"][-1]
        reading = text(
            "r_cells",
            lang,
            **values,
            gone=_day(gone[0] or 0.0, lang),
            after=_duration((gone[0] or 0.0) - last, lang),
            low=_duration(min(ends, default=last) - last, lang),
            high=_duration(max(ends, default=last) - last, lang),
        )
    numbers = {
        "peaks": x["peaks"],
        "where": where,
        "last_day_one_cell": gone[0],
        "last_day_one_cell_low_survival": gone[1],
        "last_day_one_cell_high_survival": gone[2],
        "cells_at_end": x["left"],
        "survival_range": x["varied"],
        "site": x["site"],
    }
    return _section("cells", lang, figure, reading, numbers)


def _line(
    x: np.ndarray,
    y: np.ndarray,
    name: str,
    color: str,
    lang: Lang,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": _series(x, 7),
        "y": _series(y),
        "name": name,
        "line": {"color": COLORS.get(color, color)},
        **extra,
    }


# 2. course


def _course_section(c: Computed, lang: Lang) -> dict[str, Any]:
    x = c.course
    times = x["times"]
    outcome = x["outcome"]
    data = [
        _line(times, x["effect"], text("effect", lang), "treated", lang, yaxis="y"),
    ]
    layout = _layout(
        lang,
        xaxis=_axis(text("day_axis", lang), anchor="y"),
        yaxis=_axis(text("effect_axis", lang), range=[0, 1.02]),
        shapes=_markers(x["dose_days"], lang),
    )
    above = i18n.days(x["days_above_half"], lang)
    numbers: dict[str, Any] = {"days_effect_above_half": x["days_above_half"]}
    if outcome is None:
        reading = text("r_course_none", lang, above=above)
        return _section("course", lang, {"data": data, "layout": layout}, reading, numbers)
    name = outcome["name"]
    data[0]["yaxis"] = "y2"
    data[0]["xaxis"] = "x"
    data += [
        _line(times, outcome["treated"], text("treated", lang), "treated", lang, yaxis="y"),
        _line(times, outcome["untreated"], text("untreated", lang), "untreated", lang, yaxis="y"),
    ]
    data[0]["line"]["dash"] = "dash"
    layout.update(
        yaxis=_axis(_outcome_axis(name, outcome["higher_is_worse"], lang), domain=[0, 0.62]),
        yaxis2=_axis(text("effect_axis_short", lang), domain=[0.7, 1], range=[0, 1.02]),
        height=520,
    )
    treated, untreated = float(outcome["treated"][-1]), float(outcome["untreated"][-1])
    sign = 1.0 if outcome["higher_is_worse"] else -1.0
    benefit = sign * (untreated - treated)
    digits = 2 if abs(untreated) >= 1 else 3
    reading = text(
        "r_course",
        lang,
        end=_day(float(times[-1]), lang),
        outcome=_outcome_words(name, lang),
        treated=i18n.fixed(treated, digits),
        untreated=i18n.fixed(untreated, digits),
        diff=i18n.fixed(abs(benefit), digits),
        unit=_unit(name, lang),
        better_worse=text("cmp_better" if benefit >= 0 else "cmp_worse", lang),
        direction=text("worse_up" if outcome["higher_is_worse"] else "worse_down", lang),
        above=above,
    )
    numbers.update(
        outcome=name,
        outcome_end_treated=treated,
        outcome_end_untreated=untreated,
        benefit_at_end=benefit,
    )
    return _section("course", lang, {"data": data, "layout": layout}, reading, numbers)


# 3. compare


def _regimen_words(row: dict[str, Any], lang: Lang) -> str:
    per = i18n.cells(row["viable_cells_per_dose"], lang)
    if row["n_doses"] == 1:
        return text("regimen_one", lang, cells=per)
    return text(
        "regimen_many",
        lang,
        n=row["n_doses"],
        cells=per,
        every=i18n.days(row["interval_days"], lang),
    )


def _compare_section(c: Computed, lang: Lang) -> dict[str, Any]:
    x = c.compare
    if "refused" in x:
        return _refused_section("compare", x["refused"], lang)
    rows = x["rows"]
    treated = [r for r in rows if r["n_doses"] > 0]
    untreated = next(r for r in rows if r["n_doses"] == 0)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"]
    data = []
    has_outcome = c.course["outcome"] is not None
    for i, r in enumerate(treated):
        course = x["courses"][r["label"]]
        name = _regimen_words(r, lang)
        data.append(
            _line(course["day"], course["effect"], name, palette[i % 5], lang, legendgroup=name)
        )
        if has_outcome:
            data[-1]["yaxis"] = "y2"
            data.append(
                _line(
                    course["day"],
                    course["outcome"],
                    name,
                    palette[i % 5],
                    lang,
                    legendgroup=name,
                    showlegend=False,
                )
            )
    layout = _layout(
        lang,
        xaxis=_axis(text("day_axis", lang)),
        yaxis=_axis(text("effect_axis", lang), range=[0, 1.02]),
    )
    if has_outcome:
        ucourse = x["courses"][untreated["label"]]
        data.append(
            _line(ucourse["day"], ucourse["outcome"], text("untreated", lang), "untreated", lang)
        )
        name = c.course["outcome"]["name"]
        layout.update(
            yaxis=_axis(_outcome_axis(name, bool(x["higher_is_worse"]), lang), domain=[0, 0.62]),
            yaxis2=_axis(text("effect_axis_short", lang), domain=[0.7, 1], range=[0, 1.02]),
            height=520,
        )
    one = next(r for r in treated if r["n_doses"] == 1)
    best = max(treated, key=lambda r: (r["days_above_half"], r["effect_auc"]))
    total = i18n.cells(one["total_viable_cells"], lang)
    if best is one:
        other = max((r for r in treated if r is not one), key=lambda r: r["days_above_half"])
        reading = text(
            "r_compare_one_best",
            lang,
            total=total,
            one_days=i18n.days(one["days_above_half"], lang),
            other=_regimen_words(other, lang),
            other_days=i18n.days(other["days_above_half"], lang),
        )
    else:
        values = {
            "total": total,
            "best": _regimen_words(best, lang),
            "best_days": i18n.days(best["days_above_half"], lang),
            "one_days": i18n.days(one["days_above_half"], lang),
        }
        if has_outcome:
            name = c.course["outcome"]["name"]
            diff = abs(best["outcome_end"] - one["outcome_end"])
            reading = text(
                "r_compare",
                lang,
                **values,
                end=_day(float(c.scenario.simulation.horizon_days), lang),
                outcome=_outcome_words(name, lang),
                diff=i18n.fixed(diff, 2 if abs(one["outcome_end"]) >= 1 else 3),
                unit=_unit(name, lang),
            )
        else:
            reading = text("r_compare_none", lang, **values)
    numbers = {
        "regimens": [{k: v for k, v in r.items() if k != "label"} for r in rows],
        "best_n_doses": best["n_doses"],
    }
    return _section("compare", lang, {"data": data, "layout": layout}, reading, numbers)


# 4. withdrawal


def _withdrawal_section(c: Computed, lang: Lang) -> dict[str, Any]:
    x = c.withdrawal
    if "refused" in x:
        return _refused_section("withdrawal", x["refused"], lang)
    msc: Withdrawal = x["msc"]
    drug: Withdrawal = x["drug"]
    data = []
    colors = {"stopped": "stopped", "untreated": "untreated", "continued": "continued"}
    for panel, w in (("", msc), ("2", drug)):
        for course, group in w.courses.groupby("course", sort=False):
            trace = _line(
                group["day"].to_numpy(),
                group["outcome"].to_numpy(),
                text(str(course), lang),
                colors[str(course)],
                lang,
                legendgroup=str(course),
                showlegend=panel == "",
            )
            trace.update(xaxis=f"x{panel}", yaxis=f"y{panel}")
            data.append(trace)
    shapes = _markers([msc.stop_day], lang, "x", "stop_marker") + _markers(
        [drug.stop_day], lang, "x2", "stop_marker"
    )
    shapes[-1]["showlegend"] = False
    layout = _layout(
        lang,
        grid={"rows": 1, "columns": 2, "pattern": "independent"},
        xaxis=_axis(text("day_axis", lang), domain=[0, 0.46]),
        yaxis=_axis(_outcome_axis(msc.outcome, msc.higher_is_worse, lang)),
        xaxis2=_axis(text("day_axis", lang), domain=[0.56, 1]),
        yaxis2=_axis(text("drug_axis", lang), anchor="x2"),
        shapes=shapes,
        annotations=[
            _panel_title(text("msc_panel", lang), "x domain", 0.0),
            _panel_title(text("drug_panel", lang), "x2 domain", 0.0),
        ],
        hovermode="closest",
    )
    name = msc.outcome
    unit = _unit(name, lang)
    digits = 2
    values = {
        "outcome": _outcome_words(name, lang),
        "rebound": i18n.fixed(msc.rebound, digits),
        "unit": unit,
    }
    if msc.rebound > 0.5 * 10**-digits:
        reading = text(
            "r_withdrawal_rebound",
            lang,
            **values,
            rebound_day=_day(msc.rebound_day or 0.0, lang),
        )
    else:
        reading = text(
            "r_withdrawal_none",
            lang,
            **values,
            peak=i18n.fixed(msc.benefit_at_stop, digits),
            end_benefit=i18n.fixed(msc.benefit_at_end, digits),
            end=_day(float(msc.courses["day"].max()), lang),
        )
    tol = msc.tolerance_index
    if math.isfinite(tol):
        key = (
            "r_tolerance_none"
            if TOLERANCE_NONE <= tol <= 1 / TOLERANCE_NONE
            else ("r_tolerance" if tol < 1 else "r_tolerance_more")
        )
        reading += text(key, lang, tol=i18n.fixed(tol, 2))
    drug_key = "r_drug" if drug.rebound > 0.005 else "r_drug_no_rebound"
    reading += text(
        drug_key,
        lang,
        tol=i18n.fixed(drug.tolerance_index, 2),
        rebound=i18n.number(100 * drug.rebound, lang, 2),
    )
    numbers = {"msc": msc.to_dict(), "reference_drug": drug.to_dict()}
    return _section("withdrawal", lang, {"data": data, "layout": layout}, reading, numbers)


def _panel_title(words: str, xref: str, x: float) -> dict[str, Any]:
    return {
        "text": f"<b>{words}</b>",
        "xref": xref,
        "yref": "paper",
        "x": x,
        "y": 1.08,
        "xanchor": "left",
        "showarrow": False,
    }


# 5. dose


_REFERENCE = re.compile(r"\bR\d+\b")


def _references(source: str) -> list[str]:
    """Return the reference IDs a source text names, in order (``R1``, ``R3``...)."""
    return list(dict.fromkeys(_REFERENCE.findall(source)))


def _source(source: str, lang: Lang) -> dict[str, Any]:
    return {"references": _references(source), "text": source}


def _range_words(low: float, high: float, per_kg: bool, lang: Lang) -> str:
    suffix = text("per_kg_suffix", lang) if per_kg else ""
    if low == high:
        return i18n.cells(low, lang) + suffix
    return f"{i18n.cells(low, lang)}-{i18n.cells(high, lang)}{suffix}"


def _evidence_words(
    absolute: tuple[float, float] | None, per_kg: tuple[float, float] | None, lang: Lang
) -> str:
    """Return the evidence's range in the forms it gives: total cells, per kg, or both."""
    parts = [
        _range_words(r[0], r[1], kg, lang)
        for r, kg in ((absolute, False), (per_kg, True))
        if r is not None
    ]
    return text("list_or", lang).join(parts) if parts else text("none_known", lang)


def _pair(x: float | None) -> tuple[float, float] | None:
    return None if x is None else (x, x)


def _dose_traces(a: DoseAssessment, row: int, lang: Lang) -> tuple[list[Any], list[Any]]:
    """Return the traces and shapes of one administration, in cells per dose.

    Ranges given per kg are drawn at the patient's weight.
    """
    ev = a.evidence
    w = a.weight_kg
    typical = [r for r in (ev.typical_cells, _scaled(ev.typical_cells_per_kg, w)) if r]
    highest = [h for h in (ev.highest_cells, _times(ev.highest_cells_per_kg, w)) if h]
    shapes = [
        {
            "type": "rect",
            "xref": "x",
            "yref": "y",
            "x0": low,
            "x1": high if high > low else low * 1.05,
            "y0": row - 0.3,
            "y1": row + 0.3,
            "fillcolor": "rgba(44,160,44,0.25)",
            "line": {"width": 0},
            "name": text("typical", lang),
            "showlegend": row == 0 and k == 0,
            "legendgroup": "typical",
        }
        for k, (low, high) in enumerate(typical)
    ]
    data: list[Any] = []
    if highest:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": highest,
                "y": [row] * len(highest),
                "name": text("highest", lang),
                "marker": {"symbol": "line-ns-open", "size": 26, "color": "#d62728"},
                "showlegend": row == 0,
                "legendgroup": "highest",
            }
        )
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "x": [a.cells],
            "y": [row],
            "name": text("this_dose", lang),
            "marker": {"symbol": "diamond", "size": 14, "color": "#1f77b4"},
            "showlegend": row == 0,
            "legendgroup": "this",
        }
    )
    return data, shapes


def _scaled(r: tuple[float, float] | None, w: float) -> tuple[float, float] | None:
    return None if r is None else (r[0] * w, r[1] * w)


def _times(x: float | None, w: float) -> float | None:
    return None if x is None else x * w


def _dose_section(c: Computed, lang: Lang) -> dict[str, Any]:
    if not c.dose:
        return _section("dose", lang, None, text("r_no_doses", lang), {})
    readings, data, numbers, sources = [], [], [], []
    shapes: list[dict[str, Any]] = []
    labels = []
    for i, item in enumerate(c.dose):
        a: DoseAssessment = item["assessment"]
        ev = a.evidence
        label = text(f"route_{a.route.value}", lang)
        labels.append(label)
        traces, rects = _dose_traces(a, i, lang)
        data += traces
        shapes += rects
        readings.append(
            text(
                "r_dose",
                lang,
                per_dose=i18n.cells(a.cells, lang),
                route=label,
                per_kg=i18n.cells(a.cells_per_kg, lang),
                verdict=text(f"verdict_{a.verdict.value}", lang),
                typical=_evidence_words(ev.typical_cells, ev.typical_cells_per_kg, lang),
                highest=_evidence_words(
                    _pair(ev.highest_cells), _pair(ev.highest_cells_per_kg), lang
                ),
            )
        )
        numbers.append(
            {
                "route": a.route.value,
                "cells": a.cells,
                "cells_per_kg": a.cells_per_kg,
                "verdict": a.verdict.value,
                "typical_cells": ev.typical_cells,
                "typical_cells_per_kg": ev.typical_cells_per_kg,
                "highest_cells": ev.highest_cells,
                "highest_cells_per_kg": ev.highest_cells_per_kg,
            }
        )
        sources.append(_source(ev.source, lang))
    layout = _layout(
        lang,
        xaxis=_axis(text("dose_axis_cells", lang), type="log", exponentformat="power"),
        yaxis={
            "tickvals": list(range(len(labels))),
            "ticktext": labels,
            "range": [-0.6, len(labels) - 0.4],
            "automargin": True,
        },
        shapes=shapes,
        height=180 + 60 * len(labels),
        hovermode="closest",
    )
    return _section(
        "dose",
        lang,
        {"data": data, "layout": layout},
        " ".join(readings) if lang == "en" else "".join(readings),
        {"doses": numbers},
        sources,
    )


# 6. guesses


def _guess_section(c: Computed, lang: Lang) -> dict[str, Any]:
    g = c.guesses
    listed = g["listed"]
    items = []
    for item in listed:
        p: Parameter = item["parameter"]
        low, high = item["plausible"]
        items.append(
            {
                "name": i18n.parameter_name(p.name, lang, p.description),
                "value": text(
                    "guess_value",
                    lang,
                    value=_quantity(item["value"], p.unit, lang),
                    low=_quantity(low, p.unit, lang),
                    high=_quantity(high, p.unit, lang),
                ),
                **_source(item["source"], lang),
            }
        )
    s = g["sensitivity"]
    n = len(listed)
    figure = None
    if s is None:
        reading = text("r_guess_no_sensitivity", lang, n=n)
        numbers: dict[str, Any] = {"n_guesses": n, "sensitivity": None}
    else:
        ranked = sorted(s["elasticity"].items(), key=lambda kv: -abs(kv[1]))[:8]
        by_name = {item["parameter"].name: item["parameter"] for item in listed}
        names = [
            i18n.parameter_name(k, lang, by_name[k].description if k in by_name else "")
            for k, _ in ranked
        ]
        figure = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": [round(100 * v, 3) for _, v in ranked][::-1],
                    "y": names[::-1],
                    "marker": {"color": "#9467bd"},
                    "name": text("elasticity_axis", lang),
                }
            ],
            "layout": _layout(
                lang,
                xaxis=_axis(text("elasticity_axis", lang)),
                yaxis={"automargin": True},
                height=120 + 34 * len(ranked),
                hovermode="closest",
                showlegend=False,
            ),
        }
        reading = text(
            "r_guess",
            lang,
            n=n,
            what=_summary_words(c, s["summary"], lang),
            low=_summary_value(s["interval"]["p5"], s["summary"], lang),
            high=_summary_value(s["interval"]["p95"], s["summary"], lang),
            runs=s["runs"],
            top=i18n.join(names[:2], lang),
        )
        numbers = {"n_guesses": n, "sensitivity": s}
    section = _section("guesses", lang, figure, reading, numbers)
    section["guesses"] = items
    return section


def _summary_words(c: Computed, summary: str, lang: Lang) -> str:
    if summary == "outcome_change":
        name = c.course["outcome"]["name"]
        return text(
            "what_outcome_change",
            lang,
            outcome=_outcome_words(name, lang),
            end=_day(float(c.scenario.simulation.horizon_days), lang),
        )
    return text("what_cell_days", lang)


def _summary_value(value: float, summary: str, lang: Lang) -> str:
    if summary == "outcome_change":
        return i18n.fixed(value, 2)
    return i18n.cells(value, lang)


def _quantity(value: float, unit: str, lang: Lang) -> str:
    if not math.isfinite(value):
        return "∞"
    if unit in {"fraction", "probability"}:
        return f"{i18n.number(100 * value, lang)}%"
    if unit == "day":
        return _duration(value, lang)
    if unit in {"cells", "cell-days", "cells/kg"}:
        return i18n.cells(value, lang)
    return i18n.number(value, lang)


def _duration(value_days: float, lang: Lang) -> str:
    """Return a duration in minutes, hours or days, whichever reads best."""
    for size, en, zh in ((1 / 1440, "min", "分钟"), (1 / 24, "h", "小时")):
        if value_days < size * (60 if size < 1 / 24 else 24):
            amount = i18n.number(value_days / size, lang)
            return f"{amount} {en}" if lang == "en" else f"{amount}{zh}"
    return i18n.days(value_days, lang)
