"""Simulate a validated :class:`~mscsim.spec.Scenario` with a model."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mscsim.engine.events import ResolvedDose, output_times
from mscsim.engine.fast import DEFAULT_MAX_STEP_DAY
from mscsim.engine.integrate import EngineName, simulate
from mscsim.engine.result import SimulationResult
from mscsim.errors import MscsimWarning, SpecError
from mscsim.evidence.doses import DoseAssessment, Verdict, assess_dose
from mscsim.evidence.library import ParameterLibrary
from mscsim.evidence.release import LotAssessment, assess_lot
from mscsim.evidence.sources import ResolvedProduct, resolve_product
from mscsim.models.base import Array, Model, target_site
from mscsim.models.disease import disease_from_spec
from mscsim.models.therapy import TherapyModel
from mscsim.spec.scenario import Scenario

__all__ = ["ScenarioInputs", "prepare_scenario", "simulate_scenario", "warn_population_unused"]


@dataclass(frozen=True)
class ScenarioInputs:
    """What a scenario resolves to before integration.

    Attributes
    ----------
    model : Model
    site : str
        Target site whose parameter defaults apply.
    params : dict of str to ndarray
        Parameter values and covariates, each of shape (1,).
    doses : tuple of ResolvedDose
    times_day : ndarray
    assessments : tuple of DoseAssessment
        Verdict on every distinct administration.
    product : ResolvedProduct
        Viability, potency and source factors used, with their origin.
    lot : LotAssessment or None
        The named lot's release assessment at the largest planned administration.
    """

    model: Model
    site: str
    params: dict[str, Array]
    doses: tuple[ResolvedDose, ...]
    times_day: Array
    assessments: tuple[DoseAssessment, ...]
    product: ResolvedProduct
    lot: LotAssessment | None = None


def prepare_scenario(
    scenario: Scenario,
    *,
    model: Model | None = None,
    allow_beyond_evidence: bool = False,
    allow_failed_lot: bool = False,
) -> ScenarioInputs:
    """Resolve parameters, doses and output times of ``scenario``; check doses and lot.

    Administrations after ``simulation.horizon_days`` are left out, with one
    :class:`~mscsim.MscsimWarning` saying how many.

    Raises
    ------
    SpecError
        For unknown or impossible parameter overrides, a ``[population]`` naming
        parameters the model does not have, two local routes, a dose beyond the
        highest studied for its route (unless ``allow_beyond_evidence``) or a lot
        that fails release (unless ``allow_failed_lot``).
    """
    model = model or TherapyModel(disease_from_spec(scenario.disease))
    if scenario.population is not None:
        scenario.population.omegas({p.name: p.omega for p in model.parameters})
    regimen = scenario.regimen
    _warn_left_out(scenario)
    site = target_site(regimen.routes)
    library = ParameterLibrary(model.parameters)
    values = library.resolve(
        [p.name for p in model.parameters], site=site, overrides=scenario.parameters
    )
    weight = scenario.patient.weight_kg
    params = {k: np.array([v]) for k, v in values.items()}
    params["weight_kg"] = np.array([weight])
    age = scenario.patient.age_years
    params["age_years"] = np.array([math.nan if age is None else age])
    params["is_allogeneic"] = np.array([float(scenario.product.is_allogeneic)])
    params["immunosuppression"] = np.array([scenario.patient.immunosuppression])
    product = resolve_product(scenario.product, patient_age_years=age)
    for name, value in product.covariates().items():
        params[name] = np.array([value])

    viability = product.viability
    doses = []
    assessments: dict[tuple[int, float], DoseAssessment] = {}
    for event in regimen.expand():
        cells = event.cells_for(weight)
        key = (event.line, cells)
        if key not in assessments:
            assessments[key] = assess_dose(event.route, cells=cells, weight_kg=weight)
        doses.append(
            ResolvedDose(
                time_day=event.time_day,
                route=event.route,
                viable_cells=np.array([cells * viability]),
                duration_day=event.duration_day,
            )
        )
    for (line, _), a in assessments.items():
        if a.verdict is Verdict.NO_EVIDENCE:
            warnings.warn(
                f"dose[{line}] = {a.cells:.3g} cells {a.route.value}: {a.verdict.value}, "
                f"so the dose cannot be checked ({a.evidence.source})",
                MscsimWarning,
                stacklevel=2,
            )
        if a.is_beyond_evidence:
            message = (
                f"dose[{line}] = {a.cells:.3g} cells ({a.cells_per_kg:.3g} cells/kg) "
                f"{a.route.value}: {a.verdict.value} ({a.reason}; {a.evidence.source})"
            )
            if not allow_beyond_evidence:
                raise SpecError(message + "; pass --allow-beyond-evidence to simulate it anyway")
            warnings.warn(message, MscsimWarning, stacklevel=2)
    lot = _check_lot(scenario, allow_failed_lot)
    sim = scenario.simulation
    return ScenarioInputs(
        model=model,
        site=site,
        params=params,
        doses=tuple(doses),
        times_day=output_times(sim.horizon_days, sim.output_every_days),
        assessments=tuple(assessments.values()),
        product=product,
        lot=lot,
    )


def warn_population_unused(analysis: str, scenarios: Mapping[str, Scenario]) -> None:
    """Warn once that ``analysis`` simulates typical patients, leaving ``[population]`` out.

    ``scenarios`` maps the names the user knows the scenarios by to the scenarios.
    """
    named = [name for name, s in scenarios.items() if s.population is not None]
    if not named:
        return
    if len(scenarios) == 1:
        what = "the scenario's typical patient; its [population] table is not used"
    else:
        what = (
            f"each scenario's typical patient; the [population] of {', '.join(named)} is not used"
        )
    warnings.warn(f"population: {analysis} simulates {what}", MscsimWarning, stacklevel=3)


def _warn_left_out(scenario: Scenario) -> None:
    """Warn once when administrations fall after the horizon (they are not simulated)."""
    left_out = scenario.regimen.n_left_out
    if not left_out:
        return
    total = sum(d.count for d in scenario.dose)
    doses = "dose" if total == 1 else "doses"
    falls, is_ = ("falls", "is") if left_out == 1 else ("fall", "are")
    warnings.warn(
        f"{left_out} of {total} {doses} {falls} after simulation.horizon_days = "
        f"{scenario.simulation.horizon_days:g} and {is_} not simulated",
        MscsimWarning,
        stacklevel=3,
    )


def _check_lot(scenario: Scenario, allow_failed_lot: bool) -> LotAssessment | None:
    """Assess the scenario's lot at its largest administration; refuse or warn if it fails."""
    lot = scenario.product.lot
    if lot is None:
        return None
    weight = scenario.patient.weight_kg
    events = scenario.regimen.expand()
    largest = max(events, key=lambda e: e.cells_for(weight), default=None)
    assessment = assess_lot(
        lot,
        cells=None if largest is None else largest.cells_for(weight),
        weight_kg=weight,
        infusion_hours=None if largest is None else largest.duration_day * 24 or None,
    )
    if assessment.passed:
        return assessment
    message = f"product.lot: {assessment.summary()}"
    if not allow_failed_lot:
        raise SpecError(message + "; see `mscsim qc`, or pass --allow-failed-lot to simulate it")
    warnings.warn(
        message + " (simulated because of --allow-failed-lot)", MscsimWarning, stacklevel=3
    )
    return assessment


def simulate_scenario(
    scenario: Scenario,
    *,
    model: Model | None = None,
    n_patients: int | None = None,
    engine: EngineName = "fast",
    allow_beyond_evidence: bool = False,
    allow_failed_lot: bool = False,
    max_step_day: float = DEFAULT_MAX_STEP_DAY,
    on_failure: Literal["raise", "flag"] = "raise",
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate ``scenario``'s patient (default model: its :class:`~mscsim.models.TherapyModel`).

    Every one of the ``n_patients`` is the scenario's patient. A scenario with a
    ``[population]`` is refused: :func:`mscsim.simulate_scenario` samples its
    patients (and :func:`mscsim.simulate_population` streams them in chunks).

    Parameters
    ----------
    scenario : Scenario
    model : Model, optional
    n_patients : int, optional
        Overrides ``scenario.simulation.n_patients``.
    engine : {"fast", "scipy"}
    allow_beyond_evidence : bool
        Simulate doses above the highest studied for their route (with a warning).
    allow_failed_lot : bool
        Simulate a lot that fails release (with a warning).
    max_step_day, on_failure, progress
        As in :func:`mscsim.engine.simulate`.

    Examples
    --------
    >>> from mscsim.spec import Scenario
    >>> s = Scenario.model_validate({
    ...     "patient": {"weight_kg": 70},
    ...     "product": {"source": "bone_marrow", "donor": "autologous", "viability": 1.0},
    ...     "dose": [{"route": "intramuscular", "cells": 1e7}],
    ...     "simulation": {"horizon_days": 28},
    ...     "parameters": {"target_capacity_cells": float("inf"), "local_leak_per_day": 0.0},
    ... })
    >>> r = simulate_scenario(s)
    >>> round(float(r.output("cells_target")[0, 4]) / 1e7, 6)  # one half-life later
    0.5

    Raises
    ------
    SpecError
        As :func:`prepare_scenario`, or if the scenario has a ``[population]``.
    """
    if scenario.population is not None:
        raise SpecError(
            "population: mscsim.engine.simulate_scenario simulates the scenario's patient "
            "only; sample the [population] with mscsim.simulate_scenario or "
            "mscsim.simulate_population"
        )
    inputs = prepare_scenario(
        scenario,
        model=model,
        allow_beyond_evidence=allow_beyond_evidence,
        allow_failed_lot=allow_failed_lot,
    )
    return simulate(
        inputs.model,
        inputs.doses,
        times_day=inputs.times_day,
        params=inputs.params,
        n_patients=n_patients or scenario.simulation.n_patients,
        engine=engine,
        max_step_day=max_step_day,
        on_failure=on_failure,
        progress=progress,
    )
