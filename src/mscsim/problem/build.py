"""Build a :class:`~mscsim.problem.Problem` from a scenario: every check happens here, once.

Parameters, covariates, product, dose verdicts and lot release are resolved and
checked when the problem is built; errors name the scenario's fields
(``dose[0]``, ``product.lot``, ``simulation.horizon_days``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np

from mscsim.engine.events import ResolvedDose, output_times
from mscsim.errors import MscsimWarning, SpecError
from mscsim.evidence.doses import DoseAssessment, Verdict, assess_dose
from mscsim.evidence.library import ParameterLibrary
from mscsim.evidence.release import LotAssessment, assess_lot
from mscsim.evidence.sources import resolve_product
from mscsim.models.base import Array, Model, target_site
from mscsim.models.diseases import disease_from_spec
from mscsim.models.immunity import DSA_COVARIATE
from mscsim.models.therapy import TherapyModel
from mscsim.problem.events import DoseEvents
from mscsim.problem.policy import EvidencePolicy
from mscsim.problem.problem import Problem, Provenance
from mscsim.spec.model import Kinetics, Species
from mscsim.spec.scenario import Scenario

__all__ = [
    "as_problem",
    "check_evidence",
    "default_model",
    "problem_from_scenario",
    "warn_population_unused",
]


def default_model(scenario: Scenario) -> Model:
    """Return the scenario's :class:`~mscsim.models.TherapyModel` (cells and its disease).

    ``[model] kinetics = "organs"`` puts the organ-level kinetics of the
    patient's species (and the scenario's label) in it; the default is the
    reduced kinetics.
    """
    disease = disease_from_spec(scenario.disease)
    if scenario.model.kinetics is Kinetics.REDUCED:
        return TherapyModel(disease)
    from mscsim.models.organs import OrganKinetics

    label = None if scenario.label is None else scenario.label.kind.value
    kinetics = OrganKinetics(species=scenario.patient.species.value, label=label)
    return TherapyModel(disease, kinetics=kinetics)


def problem_from_scenario(
    scenario: Scenario,
    *,
    model: Model | None = None,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
    n_patients: int | None = None,
) -> Problem:
    """Return the problem of ``scenario``'s patient (``n_patients`` copies of it).

    Administrations after ``simulation.horizon_days`` are left out, with one
    :class:`~mscsim.MscsimWarning` saying how many. A ``[population]`` is not
    sampled here (:func:`mscsim.population.problem_from_population` does), but the
    parameters it names are checked against the model.

    Parameters
    ----------
    scenario : Scenario
    model : Model, optional
        Default: :func:`default_model`.
    policy : EvidencePolicy
        Whether doses beyond the evidence and failed lots are simulated (with a
        warning) or refused.
    n_patients : int, optional
        Copies of the patient, >= 1; default ``scenario.simulation.n_patients``.

    Raises
    ------
    SpecError
        For unknown or impossible parameter overrides, a ``[population]`` naming
        parameters the model does not have, two local routes, a dose beyond the
        highest studied for its route or a lot that fails release (unless
        ``policy`` allows them).
    """
    model = model or default_model(scenario)
    if scenario.population is not None:
        scenario.population.omegas({p.name: p.omega for p in model.parameters})
    _warn_left_out(scenario)
    site = target_site(scenario.regimen.routes)
    params = _params(scenario, model, site)
    product = resolve_product(scenario.product, patient_age_years=scenario.patient.age_years)
    params.update({k: np.array([v]) for k, v in product.covariates().items()})
    doses, assessments = _doses(scenario, product.viability)
    if scenario.patient.species is not Species.HUMAN:
        assessments = {}  # the dose evidence is human: animal doses get no verdict
    check_evidence(assessments, policy)
    lot = _check_lot(scenario, policy)
    sim = scenario.simulation
    n_patients = sim.n_patients if n_patients is None else n_patients
    if isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 1:
        raise SpecError(f"n_patients = {n_patients!r}: must be a whole number >= 1")
    return Problem(
        model=model,
        params=params,
        events=DoseEvents.shared(doses, n_patients),
        times_day=output_times(sim.horizon_days, sim.output_every_days),
        n_patients=n_patients,
        provenance=Provenance(
            site, tuple(assessments.values()), product, lot, scenario.patient.species.value
        ),
    )


def as_problem(problem: Problem | Scenario) -> Problem:
    """Return ``problem``, or the problem of a scenario's patient (:func:`problem_from_scenario`).

    Lets an analysis be called with a scenario, as before problems existed.
    """
    return problem if isinstance(problem, Problem) else problem_from_scenario(problem)


def _params(scenario: Scenario, model: Model, site: str) -> dict[str, Array]:
    """Resolve the model's parameters at ``site`` and the patient's covariates, each (1,)."""
    library = ParameterLibrary(model.parameters)
    values = library.resolve(
        [p.name for p in model.parameters], site=site, overrides=scenario.parameters
    )
    params = {k: np.array([v]) for k, v in values.items()}
    age = scenario.patient.age_years
    params["weight_kg"] = np.array([scenario.patient.weight_kg])
    params["age_years"] = np.array([math.nan if age is None else age])
    params["is_allogeneic"] = np.array([float(scenario.product.is_allogeneic)])
    params["immunosuppression"] = np.array([scenario.patient.immunosuppression])
    if scenario.patient.forms_dsa is not None:
        params[DSA_COVARIATE] = np.array([float(scenario.patient.forms_dsa)])
    return params


def _doses(
    scenario: Scenario, viability: float
) -> tuple[tuple[ResolvedDose, ...], dict[tuple[int, float], DoseAssessment]]:
    """Return the patient's viable doses and a verdict on every distinct administration.

    Verdicts are keyed by (index of the dose line, cells).
    """
    weight = scenario.patient.weight_kg
    doses = []
    assessments: dict[tuple[int, float], DoseAssessment] = {}
    for event in scenario.regimen.expand():
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
    return tuple(doses), assessments


def check_evidence(
    assessments: Mapping[tuple[int, float], DoseAssessment], policy: EvidencePolicy
) -> None:
    """Warn about unchecked doses; refuse (or warn about) doses beyond the evidence."""
    for (line, _), a in assessments.items():
        if a.verdict is Verdict.NO_EVIDENCE:
            warnings.warn(
                f"dose[{line}] = {a.cells:.3g} cells {a.route.value}: {a.verdict.value}, "
                f"so the dose cannot be checked ({a.evidence.source})",
                MscsimWarning,
                stacklevel=3,
            )
        if a.is_beyond_evidence:
            message = (
                f"dose[{line}] = {a.cells:.3g} cells ({a.cells_per_kg:.3g} cells/kg) "
                f"{a.route.value}: {a.verdict.value} ({a.reason}; {a.evidence.source})"
            )
            if not policy.allow_beyond_evidence:
                raise SpecError(
                    message + "; lower the dose, or allow it with "
                    "EvidencePolicy(allow_beyond_evidence=True)"
                )
            warnings.warn(message, MscsimWarning, stacklevel=3)


def _check_lot(scenario: Scenario, policy: EvidencePolicy) -> LotAssessment | None:
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
    if not policy.allow_failed_lot:
        raise SpecError(
            message + "; see `mscsim qc`, or allow it with EvidencePolicy(allow_failed_lot=True)"
        )
    message += " (simulated: the policy allows a failed lot)"
    warnings.warn(message, MscsimWarning, stacklevel=3)
    return assessment


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
