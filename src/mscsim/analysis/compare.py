"""Regimen comparison: the same cells given as fewer large or more frequent small doses.

Whether splitting a dose helps is not assumed anywhere: each regimen is simulated
and summarised the same way, and the numbers say which did better.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mscsim.analysis.batch import DEFAULT_RESOLUTION_DAY, analysis_times, run_dose_sets
from mscsim.analysis.doses import EXPOSURE_OUTPUT
from mscsim.analysis.metrics import auc, time_above
from mscsim.engine.events import ResolvedDose
from mscsim.engine.result import SimulationResult
from mscsim.engine.solvers import Solver
from mscsim.errors import SpecError
from mscsim.evidence.doses import DoseAssessment, assess_dose
from mscsim.models.base import Model
from mscsim.models.diseases import Outcome
from mscsim.problem.build import check_evidence, problem_from_scenario, warn_population_unused
from mscsim.problem.events import DoseEvents
from mscsim.problem.policy import EvidencePolicy
from mscsim.problem.problem import Problem
from mscsim.spec.dose import Dose
from mscsim.spec.route import Route
from mscsim.spec.scenario import Scenario

__all__ = [
    "COMPARE_COLUMNS",
    "DEFAULT_EFFECT_THRESHOLD",
    "DEFAULT_WINDOW_DAYS",
    "Comparison",
    "compare_scenarios",
    "compare_splits",
    "split_problem",
    "split_scenario",
    "treatment_window",
]

DEFAULT_EFFECT_THRESHOLD = 0.5
DEFAULT_WINDOW_DAYS = 28.0
"""Window over which a single dose is split: locally injected cells persist about
four weeks (evidence section 3)."""

COMPARE_COLUMNS: tuple[str, ...] = (
    "regimen",
    "n_doses",
    "interval_days",
    "viable_cells_per_dose",
    "total_viable_cells",
    "exposure_cell_days",
    "last_dose_exposure_ratio",
    "effect_auc",
    "days_above_threshold",
    "outcome_end",
    "change_from_baseline",
)
"""``exposure_cell_days`` is at the target. ``last_dose_exposure_ratio`` is the
whole-body exposure in the window after the last dose over the same window after
the first (the window is the first dose interval): below 1 when later doses
deliver less (a sensitised host), above 1 when cells of earlier doses are still
there (accumulation)."""


def _window(days: Sequence[float]) -> float | None:
    """Return the days ``days`` (distinct, increasing) cover, or ``None`` for fewer than two."""
    if len(days) < 2:
        return None
    n = len(days)
    return (days[-1] - days[0]) * n / (n - 1)


def treatment_window(scenario: Scenario) -> float | None:
    """Return the days a multi-dose regimen covers, or ``None`` for one administration.

    ``n`` administrations from day ``a`` to day ``b`` cover ``(b - a) n / (n - 1)``
    days: ``n`` equal slots, the last one after the last dose.
    """
    return _window(sorted({e.time_day for e in scenario.regimen.expand()}))


@dataclass(frozen=True)
class _Split:
    """One patient's regimen as ``k`` equal doses: where they start and what each is."""

    first_day: float
    interval_day: float
    amount: float
    route: Route
    duration_day: float


def _split_one(
    days: Sequence[float],
    amounts: Sequence[float],
    kinds: set[tuple[Route, float]],
    k: int,
    window_days: float | None,
    horizon: tuple[float, str],
) -> _Split:
    """Split one patient's administrations (days by time; ``kinds`` their routes and lengths).

    ``horizon`` is the last day a dose may fall on and the field that sets it.
    """
    if len(kinds) > 1:
        raise SpecError(
            "dose: a split needs every administration to use one route and infusion length; "
            "compare scenarios instead"
        )
    route, duration = next(iter(kinds))
    window = _window(sorted(set(days)))
    if window is None or window_days is not None:
        window = DEFAULT_WINDOW_DAYS if window_days is None else window_days
    if not 0 < window < math.inf:
        raise SpecError(f"window_days = {window}: must be a finite number of days > 0")
    first = min(days)
    interval = window / k
    last = first + (k - 1) * interval
    horizon_day, horizon_field = horizon
    if last + duration > horizon_day + 1e-9:
        ends = f"end on day {last + duration:g}" if duration else f"be on day {last:g}"
        raise SpecError(
            f"split = {k}: the last dose would {ends}, after "
            f"{horizon_field} = {horizon_day:g}; lengthen the horizon or shorten the window"
        )
    return _Split(first, interval, math.fsum(amounts) / k, route, duration)


def _check_k(k: int) -> None:
    if k < 1:
        raise SpecError(f"split = {k}: must be a whole number >= 1")


def split_scenario(scenario: Scenario, k: int, window_days: float | None = None) -> Scenario:
    """Return ``scenario`` with its total cells given as ``k`` equal doses.

    The rules are :func:`split_problem`'s, applied to the scenario's dose lines
    (cells as planned, before viability): the doses keep the route and infusion
    length and must end by ``simulation.horizon_days``.

    Raises
    ------
    SpecError
        If the scenario has no doses or more than one route or infusion length,
        ``k < 1``, or the split doses would run past the horizon.
    """
    _check_k(k)
    events = scenario.regimen.expand()
    if not events:
        raise SpecError("dose: the scenario has no doses to split")
    weight = scenario.patient.weight_kg
    split = _split_one(
        [e.time_day for e in events],
        [e.cells_for(weight) for e in events],
        {(e.route, e.duration_day) for e in events},
        k,
        window_days,
        (scenario.simulation.horizon_days, "simulation.horizon_days"),
    )
    dose = Dose(
        route=split.route,
        cells=split.amount,
        day=split.first_day,
        every_days=split.interval_day if k > 1 else None,
        count=k,
        infusion_hours=split.duration_day * 24.0 if split.duration_day > 0 else None,
    )
    return scenario.model_copy(update={"dose": (dose,)})


def split_problem(problem: Problem, k: int, window_days: float | None = None) -> Problem:
    """Return ``problem`` with each patient's total viable cells given as ``k`` equal doses.

    Each patient's doses keep the route (and infusion length) and start on the
    patient's first dose day, ``window / k`` days apart. The window is the days
    the patient's doses cover (``n`` administrations from day ``a`` to day ``b``
    cover ``(b - a) n / (n - 1)`` days) or, for a single administration,
    ``window_days`` (default :data:`DEFAULT_WINDOW_DAYS`); ``window_days``, when
    given, is used for every patient.

    Raises
    ------
    SpecError
        If a patient has no doses or more than one route or infusion length,
        ``k < 1``, or a split dose would fall after the last output time
        (``times_day``).
    """
    return _split_problem(problem, k, window_days, (float(problem.times_day[-1]), "times_day[-1]"))


def _split_problem(
    problem: Problem,
    k: int,
    window_days: float | None,
    horizon: tuple[float, str],
    owner: str = "the problem",
) -> Problem:
    _check_k(k)
    events = problem.events
    if not len(events):
        raise SpecError(f"dose: {owner} has no doses to split")
    rows: list[tuple[int, float, float, Route, float]] = []
    for patient in range(problem.n_patients):
        at = events.rows_of(patient)
        if not at.size:
            raise SpecError(f"dose: patient {patient} of {owner} has no doses to split")
        split = _split_one(
            events.time_day[at].tolist(),
            events.amount_cells[at].tolist(),
            {(events.route[i], float(events.duration_day[i])) for i in at},
            k,
            window_days,
            horizon,
        )
        rows += [
            (
                patient,
                split.first_day + i * split.interval_day,
                split.amount,
                split.route,
                split.duration_day,
            )
            for i in range(k)
        ]
    return replace(problem, events=DoseEvents.from_rows(rows))


@dataclass(frozen=True)
class Comparison:
    """Regimens compared: the summary table and the simulated courses.

    Attributes
    ----------
    table : DataFrame
        One row per regimen, then the untreated course(s); columns
        :data:`COMPARE_COLUMNS`; ``attrs`` name the outcome, its unit and the
        effect threshold.
    courses : DataFrame
        Long table, one row per regimen and output day: ``day``, ``regimen``,
        ``cells_total``, ``effect``, ``outcome`` (NaN without one) and ``dose``
        (True on the days a dose starts).
    """

    table: pd.DataFrame
    courses: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """Return the summary table (:attr:`table`)."""
        return self.table


@dataclass(frozen=True)
class _Row:
    label: str
    inputs: Problem


def _cells_text(cells: float) -> str:
    """Return ``3.15e7``-style text for a cell count."""
    mantissa, exponent = f"{cells:.3g}e0".split("e")[:2]
    return f"{cells:.3g}" if cells < 1e4 else f"{float(mantissa):g}e{int(exponent)}"


def _label(inputs: Problem) -> str:
    """Return e.g. ``"4 x 3.15e7 every 7 d"`` (viable cells per dose)."""
    doses = inputs.doses
    if not doses:
        return "untreated"
    cells = _cells_text(float(doses[0].viable_cells[0]))
    days = sorted({d.time_day for d in doses})
    if len(days) == 1:
        return f"1 x {cells} on day {days[0]:g}"
    step = np.diff(days)
    every = f"every {step[0]:g} d" if np.allclose(step, step[0]) else "uneven"
    return f"{len(doses)} x {cells} {every}"


def _metrics(
    result: SimulationResult, index: int, threshold: float, outcome: Outcome | None
) -> dict[str, float]:
    t = result.times_day
    effect = result.output("effect")[index]
    if "exposure_cell_days" in result.outputs:
        exposure = float(result.output("exposure_cell_days")[index, -1])
    else:
        exposure = float(auc(t, result.output("cells_target")[index]))
    row = {
        "exposure_cell_days": exposure,
        "effect_auc": float(auc(t, effect)),
        "days_above_threshold": float(time_above(t, effect, threshold)),
        "outcome_end": math.nan,
        "change_from_baseline": math.nan,
    }
    if outcome is not None:
        course = result.output(outcome.name)[index]
        row["outcome_end"] = float(course[-1])
        row["change_from_baseline"] = float(course[-1] - course[0])
    return row


def _windows(doses: Sequence[ResolvedDose], horizon_day: float) -> tuple[float, float, float]:
    """Return the first and last dose days and the window compared after each.

    The window is the first dose interval, cut to what is left after the last dose.
    """
    days = sorted({d.time_day for d in doses})
    if len(days) < 2:
        return math.nan, math.nan, math.nan
    return days[0], days[-1], min(days[1] - days[0], horizon_day - days[-1])


def _times(
    horizon_day: float, resolution_day: float, dose_sets: Sequence[Sequence[ResolvedDose]]
) -> np.ndarray:
    """Return the analysis grid with the dose days and per-dose windows added."""
    extra = [d.time_day for doses in dose_sets for d in doses]
    for doses in dose_sets:
        first, last, window = _windows(doses, horizon_day)
        if window > 0:
            extra += [first + window, last + window]
    return np.union1d(analysis_times(horizon_day, resolution_day), extra)


def _last_dose_ratio(result: SimulationResult, index: int, doses: Sequence[ResolvedDose]) -> float:
    """Return whole-body exposure in a window after the last dose over the same after the first.

    NaN for a single administration, a model without cumulative exposure, or no window.
    """
    t = result.times_day
    first, last, window = _windows(doses, float(t[-1]))
    if not window > 0 or EXPOSURE_OUTPUT not in result.outputs:
        return math.nan
    x = result.output(EXPOSURE_OUTPUT)[index]
    at = np.searchsorted(t, [first, first + window, last, last + window])
    head, tail = x[at[1]] - x[at[0]], x[at[3]] - x[at[2]]
    return float(tail / head) if head > 0 else math.nan


def _dose_columns(inputs: Problem) -> dict[str, float]:
    doses = inputs.doses
    cells = [float(d.viable_cells[0]) for d in doses]
    days = sorted({d.time_day for d in doses})
    steps = np.diff(days)
    return {
        "n_doses": len(doses),
        "interval_days": float(steps[0])
        if steps.size and np.allclose(steps, steps[0])
        else math.nan,
        "viable_cells_per_dose": cells[0] if cells and np.allclose(cells, cells[0]) else math.nan,
        "total_viable_cells": math.fsum(cells),
    }


_UNTREATED_DOSES: dict[str, float] = {
    "n_doses": 0,
    "interval_days": math.nan,
    "viable_cells_per_dose": math.nan,
    "total_viable_cells": 0.0,
    "last_dose_exposure_ratio": math.nan,
}


def _frame(
    rows: list[dict[str, object]], outcome: Outcome | None, threshold: float
) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
    frame["n_doses"] = frame["n_doses"].astype("int64")
    frame.attrs.update(
        outcome=None if outcome is None else outcome.name,
        outcome_unit=None if outcome is None else outcome.unit,
        higher_is_worse=None if outcome is None else outcome.higher_is_worse,
        effect_threshold=threshold,
    )
    return frame


def _courses(
    result: SimulationResult,
    rows: Sequence[int],
    labels: Sequence[str],
    outcome: Outcome | None,
    dose_sets: Sequence[Sequence[ResolvedDose]],
) -> pd.DataFrame:
    """Return a long table of the courses, one row per regimen and day.

    Columns ``day``, ``regimen``, ``cells_total``, ``effect``, ``outcome`` (NaN
    without a disease) and ``dose`` (True on the days a dose starts).
    """
    t = result.times_day
    parts = []
    for i, label, doses in zip(rows, labels, dose_sets, strict=True):
        parts.append(
            pd.DataFrame(
                {
                    "day": t,
                    "regimen": label,
                    "cells_total": _output_or_nan(result, "cells_total")[i],
                    "effect": result.output("effect")[i],
                    "outcome": (result.output(outcome.name)[i] if outcome is not None else np.nan),
                    "dose": np.isin(t, [d.time_day for d in doses]),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _output_or_nan(result: SimulationResult, name: str) -> np.ndarray:
    """Return output ``name``, or NaN at every patient and time if the model has none."""
    if name in result.outputs:
        return result.output(name)
    return np.full((result.n_patients, result.times_day.size), np.nan)


def _outcome(inputs: Problem) -> Outcome | None:
    return getattr(inputs.model, "outcome", None)


def _one_patient(
    problem: Problem | Scenario,
    model: Model | None,
    policy: EvidencePolicy,
) -> tuple[Problem, float, str]:
    """Return the problem of one patient, its horizon and the field that sets the horizon.

    A scenario is turned into a problem here, once; a problem is taken as it is.
    """
    if isinstance(problem, Scenario):
        built = problem_from_scenario(problem, model=model, policy=policy, n_patients=1)
        return built, problem.simulation.horizon_days, "simulation.horizon_days"
    if model is not None:
        raise SpecError("model: a problem has its model; give model= with a scenario only")
    if problem.n_patients != 1:
        raise SpecError(
            f"n_patients = {problem.n_patients}: compare simulates one patient; "
            "take one with problem.take(...)"
        )
    return problem, float(problem.times_day[-1]), "times_day[-1]"


def _check_split_evidence(problem: Problem, policy: EvidencePolicy) -> None:
    """Check a scenario's split doses against the evidence, as its own doses were.

    A split regimen is one dose line (``dose[0]``) of the cells before viability.
    Animal doses get no verdict (the dose evidence is human).
    """
    if problem.provenance is not None and problem.provenance.species != "human":
        return
    weight = float(problem.params["weight_kg"][0])
    viability = problem.product.viability
    assessments: dict[tuple[int, float], DoseAssessment] = {}
    for d in problem.doses:
        cells = float(d.viable_cells[0]) / viability
        if (0, cells) not in assessments:
            assessments[0, cells] = assess_dose(d.route, cells=cells, weight_kg=weight)
    check_evidence(assessments, policy)


def compare_splits(
    problem: Problem | Scenario,
    splits: Sequence[int] = (1, 2, 4, 8),
    *,
    window_days: float | None = None,
    effect_threshold: float = DEFAULT_EFFECT_THRESHOLD,
    resolution_day: float = DEFAULT_RESOLUTION_DAY,
    model: Model | None = None,
    solver: Solver | None = None,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Compare the patient's cells given as ``k`` equal doses, for each ``k`` in ``splits``.

    Each regimen is :func:`split_problem` of the problem; all regimens and the
    untreated course (the problem with no events) are one problem, each its own
    patient (:func:`mscsim.problem.solve`). The table has one row per regimen and a
    last row for the untreated course.

    Parameters
    ----------
    problem : Problem or Scenario
        A problem of one patient, simulated to its last output time; a scenario
        stands for the problem of its patient
        (:func:`~mscsim.problem.problem_from_scenario`, with ``model`` and
        ``policy``), simulated to ``simulation.horizon_days``.
    model : Model, optional
        With a scenario only: any model with the outputs ``effect`` and
        ``cells_target`` (and ``cells_total`` for the courses); an ``outcome``
        attribute adds the outcome columns.

    Raises
    ------
    SpecError
        As :func:`split_problem`, for an empty or repeated ``splits``, or for a
        problem of more than one patient.
    """
    if not splits or len(set(splits)) != len(splits):
        raise SpecError(f"split = {list(splits)}: give distinct whole numbers >= 1")
    base, horizon, field = _one_patient(problem, model, policy)
    if isinstance(problem, Scenario):
        warn_population_unused("compare", {"the scenario": problem})
    owner = "the scenario" if isinstance(problem, Scenario) else "the problem"
    prepared = [_split_problem(base, k, window_days, (horizon, field), owner) for k in splits]
    if isinstance(problem, Scenario):
        for p in prepared:
            _check_split_evidence(p, policy)
    dose_sets = [p.doses for p in prepared] + [()]
    times = _times(horizon, resolution_day, dose_sets)
    result = run_dose_sets(
        base.model, base.params, dose_sets, times, solver=solver, progress=progress
    )
    outcome = _outcome(base)
    rows: list[dict[str, object]] = []
    for i, p in enumerate(prepared):
        rows.append(
            {
                "regimen": _label(p),
                **_dose_columns(p),
                **_metrics(result, i, effect_threshold, outcome),
                "last_dose_exposure_ratio": _last_dose_ratio(result, i, p.doses),
            }
        )
    rows.append(
        {
            "regimen": "untreated",
            **_UNTREATED_DOSES,
            **_metrics(result, len(prepared), effect_threshold, outcome),
        }
    )
    labels = [str(r["regimen"]) for r in rows]
    return Comparison(
        _frame(rows, outcome, effect_threshold),
        _courses(result, range(len(rows)), labels, outcome, dose_sets),
    )


_DONOR_ONLY = frozenset({"immunosuppression"})
"""Parameters that act on donor cells only: the untreated course ignores them."""


def _untreated_key(item: Problem | Scenario, inputs: Problem, horizon: float) -> object:
    """Return what decides an untreated course: items with equal keys share one row.

    For a scenario, its patient (but immunosuppression), disease, parameters and
    horizon; for a problem, its model (the object), parameters (but immunosuppression)
    and horizon.
    """
    if isinstance(item, Scenario):
        return json.dumps(
            [
                item.patient.model_dump(mode="json", exclude={"immunosuppression"}),
                item.disease.model_dump(mode="json"),
                item.parameters,
                item.simulation.horizon_days,
            ],
            sort_keys=True,
        )
    params = tuple(
        (k, v.tobytes()) for k, v in sorted(inputs.params.items()) if k not in _DONOR_ONLY
    )
    return ("problem", inputs.model, params, horizon)


def compare_scenarios(
    scenarios: Sequence[Problem | Scenario],
    names: Sequence[str] | None = None,
    *,
    effect_threshold: float = DEFAULT_EFFECT_THRESHOLD,
    resolution_day: float = DEFAULT_RESOLUTION_DAY,
    model: Model | None = None,
    solver: Solver | None = None,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
) -> Comparison:
    """Compare arbitrary problems or scenarios, each with its untreated course, in one table.

    Rows are the problems (``regimen`` is its name) followed by an ``untreated``
    row for each distinct untreated course, the problem with no events (one if
    they share it): scenarios share it when their patient, disease, parameters and
    horizon are equal; problems when they have the same model (the same object,
    as in problem equality) and equal parameters and last output time
    (immunosuppression, which acts on donor cells only, left out of both).
    Columns as :func:`compare_splits`; ``outcome_end`` is only comparable between
    rows with the same outcome (``attrs["outcome"]`` is set when all share it).
    The courses hold the treated and untreated courses; each item is as the
    ``problem`` of :func:`compare_splits`, with its ``model``, ``solver`` and
    ``policy``.
    """
    if not scenarios:
        raise SpecError("scenarios: give at least one")
    names = (
        list(names) if names is not None else [f"scenario {i + 1}" for i in range(len(scenarios))]
    )
    rows: list[dict[str, object]] = []
    untreated: list[tuple[object, dict[str, object], pd.DataFrame]] = []
    outcomes = set()
    traces = []
    for name, item in zip(names, scenarios, strict=True):
        inputs, horizon, _ = _one_patient(item, model, policy)
        times = _times(horizon, resolution_day, [inputs.doses])
        result = run_dose_sets(
            inputs.model, inputs.params, [inputs.doses, ()], times, solver=solver
        )
        outcome = _outcome(inputs)
        outcomes.add(outcome)
        traces.append(_courses(result, [0], [name], outcome, [inputs.doses]))
        rows.append(
            {
                "regimen": name,
                **_dose_columns(inputs),
                **_metrics(result, 0, effect_threshold, outcome),
                "last_dose_exposure_ratio": _last_dose_ratio(result, 0, inputs.doses),
            }
        )
        key = _untreated_key(item, inputs, horizon)
        if not any(key == seen for seen, _, _ in untreated):
            untreated.append(
                (
                    key,
                    {
                        "regimen": f"untreated ({name})",
                        **_UNTREATED_DOSES,
                        **_metrics(result, 1, effect_threshold, outcome),
                    },
                    _courses(result, [1], [f"untreated ({name})"], outcome, [()]),
                )
            )
    warn_population_unused(
        "compare",
        {n: s for n, s in zip(names, scenarios, strict=True) if isinstance(s, Scenario)},
    )
    extra = [row for _, row, _ in untreated]
    if len(extra) == 1:
        extra[0]["regimen"] = "untreated"
        untreated[0][2]["regimen"] = "untreated"
    traces += [trace for _, _, trace in untreated]
    shared = outcomes.pop() if len(outcomes) == 1 else None
    frame = _frame(rows + extra, shared, effect_threshold)
    return Comparison(frame, pd.concat(traces, ignore_index=True))
