"""Dependence and withdrawal: stop a regimen and compare with never treating.

For any model with an outcome and an ``effect`` output, three courses are
simulated in one batch: treatment stopped at ``stop_day`` (a), never treated (b)
and continued on the same schedule (c). From them:

- ``rebound``: the largest amount, in outcome units, by which (a) is worse than
  (b) at any time after the stop (0 if never);
- ``fade_days``: days from the stop until the benefit of (a) over (b) falls to 10%
  of its value at the stop. Cells already given keep acting for days, so the value
  at the stop is taken as the benefit's highest value after the stop;
- ``tolerance_index``: under (c), effect AUC over the dosing interval after the
  last dose given before the stop divided by that after the first dose (1: no
  tolerance).

Nothing here knows which model it runs: the same function gives MSCs and the
reference drug their numbers (:func:`withdrawal_analysis`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mscsim.analysis.batch import DEFAULT_RESOLUTION_DAY, analysis_times, run_dose_sets
from mscsim.analysis.metrics import first_time_at_or_below
from mscsim.engine.events import ResolvedDose
from mscsim.engine.solvers import Solver
from mscsim.errors import SpecError
from mscsim.evidence.library import ParameterLibrary
from mscsim.models.base import Array, Model
from mscsim.models.diseases import Outcome
from mscsim.models.reference_drug import ReferenceDrug
from mscsim.problem.build import problem_from_scenario, warn_population_unused
from mscsim.problem.events import DoseEvents
from mscsim.problem.policy import EvidencePolicy
from mscsim.problem.problem import Problem
from mscsim.spec.route import Route
from mscsim.spec.scenario import Scenario

__all__ = [
    "COURSES",
    "DEFAULT_FOLLOW_UP_DAYS",
    "FADE_LEVEL",
    "MAX_FOLLOW_UP_DAYS",
    "Withdrawal",
    "WithdrawalComparison",
    "msc_withdrawal",
    "reference_drug_withdrawal",
    "withdrawal",
    "withdrawal_analysis",
]

COURSES: tuple[str, ...] = ("stopped", "untreated", "continued")
DEFAULT_FOLLOW_UP_DAYS = 365.0
"""Days simulated after the stop (at least; the scenario's horizon if later)."""
MAX_FOLLOW_UP_DAYS = 36_525.0
"""Longest follow-up after the stop (100 years): bounds the work and memory of a run."""
FADE_LEVEL = 0.1
"""``fade_days`` ends when the benefit is down to this share of its value at the stop."""
REFERENCE_DRUG_INTERVAL_DAYS = 1.0
"""The reference drug is taken once a day over the same treatment period."""


@dataclass(frozen=True)
class Withdrawal:
    """What stopping does, for one model.

    Attributes
    ----------
    model : str
    outcome, outcome_unit : str
    higher_is_worse : bool
    stop_day : float
    rebound : float
        Largest worsening below the never-treated course after the stop (outcome
        units, >= 0).
    rebound_day : float or None
        When that worsening is largest (``None`` if there is none).
    fade_days : float or None
        ``None`` if the benefit did not fall to 10% within the follow-up.
    benefit_at_stop : float
        The benefit's highest value after the stop (outcome units).
    benefit_at_end : float
        The benefit at the end of the follow-up (outcome units).
    tolerance_index : float
    courses : DataFrame
        ``day``, ``course`` (stopped / untreated / continued), ``outcome``, ``effect``.
    """

    model: str
    outcome: str
    outcome_unit: str
    higher_is_worse: bool
    stop_day: float
    rebound: float
    rebound_day: float | None
    fade_days: float | None
    benefit_at_stop: float
    benefit_at_end: float
    tolerance_index: float
    courses: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Return the courses (:attr:`courses`)."""
        return self.courses

    def to_dict(self) -> dict[str, Any]:
        """Return the figures (not the courses) as a JSON-ready dict."""
        out = asdict(self)
        out.pop("courses")
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


@dataclass(frozen=True)
class WithdrawalComparison:
    """MSC and reference drug side by side."""

    msc: Withdrawal
    reference_drug: Withdrawal

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return ``{"msc": {...}, "reference_drug": {...}}``."""
        return {"msc": self.msc.to_dict(), "reference_drug": self.reference_drug.to_dict()}

    def to_frame(self) -> pd.DataFrame:
        """Return one row per figure, one column per model."""
        return pd.DataFrame(
            {"msc": self.msc.to_dict(), "reference_drug": self.reference_drug.to_dict()}
        )


def _interval_auc(times: Array, values: Array, start: float, end: float) -> float:
    """Return the area of a sampled course between ``start`` and ``end`` (interpolated)."""
    inside = (times > start) & (times < end)
    t = np.concatenate([[start], times[inside], [end]])
    v = np.interp(t, times, values)
    return float(np.trapezoid(v, t))


def withdrawal_analysis(
    problem: Problem,
    *,
    stop_day: float | None = None,
    horizon_day: float,
    resolution_day: float = DEFAULT_RESOLUTION_DAY,
    solver: Solver | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Withdrawal:
    """Stop the problem's doses at ``stop_day`` and compare with never treating and continuing.

    Continued treatment repeats the last dose at the last interval between doses
    until ``horizon_day``. The problem's patient (one, with one schedule) is
    simulated three times; its model needs an ``outcome`` attribute and an
    ``effect`` output, so any such model works, built in or not.

    Raises
    ------
    SpecError
        For more than one patient, without an outcome, with fewer than two
        administration days, or with a stop
        day before the first dose, after the last one or after the horizon.
    """
    if problem.n_patients != 1:
        raise SpecError(
            f"n_patients = {problem.n_patients}: withdrawal simulates one patient; "
            "take one with problem.take(...)"
        )
    model, params, doses = problem.model, problem.params, problem.doses
    outcome: Outcome | None = getattr(model, "outcome", None)
    if outcome is None:
        raise SpecError(
            f"disease.model: {model.name} has no outcome; withdrawal needs a disease "
            "(sca, limb_ischemia or inflammation)"
        )
    days = sorted({d.time_day for d in doses})
    if len(days) < 2:
        raise SpecError(
            "dose: withdrawal needs a regimen of at least two administrations, "
            "so that it knows the schedule to continue"
        )
    stop = days[-1] if stop_day is None else float(stop_day)
    if not days[0] <= stop <= days[-1] or stop >= horizon_day:
        raise SpecError(
            f"stop_day = {stop:g}: must be from the first dose (day {days[0]:g}) "
            f"to the last (day {days[-1]:g}), before the end of follow-up (day {horizon_day:g})"
        )
    given = [d for d in doses if d.time_day <= stop + 1e-9]
    last_day = max(d.time_day for d in given)
    interval = days[-1] - days[-2]
    last_doses = [d for d in doses if abs(d.time_day - days[-1]) < 1e-9]
    continued = list(doses)
    t = days[-1] + interval
    while t <= horizon_day + 1e-9:
        continued += [ResolvedDose(t, d.route, d.viable_cells, d.duration_day) for d in last_doses]
        t += interval
    times = analysis_times(horizon_day, resolution_day)
    result = run_dose_sets(
        model, params, [given, (), continued], times, solver=solver, progress=progress
    )
    course = result.output(outcome.name)
    effect = result.output("effect")
    sign = 1.0 if outcome.higher_is_worse else -1.0
    benefit = sign * (course[1] - course[0])  # stopped better than untreated: > 0
    after = times >= stop - 1e-9
    t_after, b_after = times[after], benefit[after]
    worst = int(np.argmin(b_after))
    rebound = max(0.0, float(-b_after[worst]))
    peak = int(np.argmax(b_after))
    peak_value = float(b_after[peak])
    fade: float | None = None
    if peak_value > 0:
        when = first_time_at_or_below(t_after[peak:], b_after[peak:], FADE_LEVEL * peak_value)
        fade = None if when is None else when - stop
    first_auc = _interval_auc(times, effect[2], days[0], days[0] + interval)
    last_auc = _interval_auc(times, effect[2], last_day, last_day + interval)
    frame = pd.DataFrame(
        {
            "day": np.tile(times, 3),
            "course": np.repeat(COURSES, times.size),
            "outcome": course.reshape(-1),
            "effect": effect.reshape(-1),
        }
    )
    return Withdrawal(
        model=model.name,
        outcome=outcome.name,
        outcome_unit=outcome.unit,
        higher_is_worse=outcome.higher_is_worse,
        stop_day=stop,
        rebound=rebound,
        rebound_day=float(t_after[worst]) if rebound > 0 else None,
        fade_days=fade,
        benefit_at_stop=peak_value,
        benefit_at_end=float(b_after[-1]),
        tolerance_index=last_auc / first_auc if first_auc != 0 else math.nan,
        courses=frame,
    )


def _horizon(scenario: Scenario, stop_day: float | None, follow_up_days: float) -> float:
    if not 0 < follow_up_days <= MAX_FOLLOW_UP_DAYS:
        raise SpecError(
            f"follow_up_days = {follow_up_days}: must be > 0 and at most {MAX_FOLLOW_UP_DAYS:g}"
        )
    days = [e.time_day for e in scenario.regimen.expand()]
    last = max(days, default=0.0)
    stop = last if stop_day is None else min(stop_day, last)  # a later stop is refused later
    return max(scenario.simulation.horizon_days, stop + follow_up_days)


def msc_withdrawal(
    scenario: Scenario,
    *,
    stop_day: float | None = None,
    follow_up_days: float = DEFAULT_FOLLOW_UP_DAYS,
    resolution_day: float = DEFAULT_RESOLUTION_DAY,
    model: Model | None = None,
    solver: Solver | None = None,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
    progress: Callable[[int, int], None] | None = None,
) -> Withdrawal:
    """Run :func:`withdrawal_analysis` on a scenario's MSC regimen and disease.

    ``model`` replaces the scenario's :class:`~mscsim.models.TherapyModel`;
    ``policy`` is checked when the scenario's problem is built.
    """
    horizon = _horizon(scenario, stop_day, follow_up_days)
    problem = problem_from_scenario(scenario, model=model, policy=policy, n_patients=1)
    warn_population_unused("withdrawal", {"the scenario": scenario})
    return withdrawal_analysis(
        problem,
        stop_day=stop_day,
        horizon_day=horizon,
        resolution_day=resolution_day,
        solver=solver,
        progress=progress,
    )


def reference_drug_withdrawal(
    first_day: float,
    stop_day: float,
    horizon_day: float,
    *,
    parameters: dict[str, float] | None = None,
    resolution_day: float = DEFAULT_RESOLUTION_DAY,
    solver: Solver | None = None,
) -> Withdrawal:
    """Run :func:`withdrawal_analysis` on the reference drug taken daily from ``first_day``.

    ``parameters`` overrides the drug's defaults by name (see ``mscsim params``).
    """
    model = ReferenceDrug()
    library = ParameterLibrary(model.parameters)
    values = library.resolve([p.name for p in model.parameters], overrides=parameters)
    params = {k: np.array([v]) for k, v in values.items()}
    n = math.floor((stop_day - first_day) / REFERENCE_DRUG_INTERVAL_DAYS + 1e-9) + 1
    doses = [
        ResolvedDose(first_day + i * REFERENCE_DRUG_INTERVAL_DAYS, Route.INTRAVENOUS, np.ones(1))
        for i in range(max(n, 2))
    ]
    last = doses[-1].time_day
    horizon = max(horizon_day, last + 2 * REFERENCE_DRUG_INTERVAL_DAYS)
    problem = Problem(model, params, DoseEvents.shared(doses, 1), np.array([0.0, horizon]))
    return withdrawal_analysis(
        problem,
        stop_day=max(last, stop_day),
        horizon_day=horizon,
        resolution_day=resolution_day,
        solver=solver,
    )


def withdrawal(
    scenario: Scenario,
    *,
    stop_day: float | None = None,
    follow_up_days: float = DEFAULT_FOLLOW_UP_DAYS,
    resolution_day: float = DEFAULT_RESOLUTION_DAY,
    model: Model | None = None,
    solver: Solver | None = None,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
    progress: Callable[[int, int], None] | None = None,
) -> WithdrawalComparison:
    """Withdrawal of the scenario's MSCs beside the reference drug over the same period.

    The drug is taken once a day from the first MSC dose to the stop day and is
    followed for as long.
    """
    msc = msc_withdrawal(
        scenario,
        stop_day=stop_day,
        follow_up_days=follow_up_days,
        resolution_day=resolution_day,
        model=model,
        solver=solver,
        policy=policy,
        progress=progress,
    )
    first = min(e.time_day for e in scenario.regimen.expand())
    horizon = float(msc.courses["day"].max())
    drug = reference_drug_withdrawal(
        first, msc.stop_day, horizon, resolution_day=resolution_day, solver=solver
    )
    return WithdrawalComparison(msc=msc, reference_drug=drug)
