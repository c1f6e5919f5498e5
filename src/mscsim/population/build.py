"""Build the problem of a scenario's ``[population]``: each patient its own draws and doses."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mscsim.errors import SpecError
from mscsim.models.base import Model
from mscsim.population.sample import VirtualPatients, sample_patients
from mscsim.problem.build import problem_from_scenario
from mscsim.problem.events import DoseEvents
from mscsim.problem.policy import EvidencePolicy
from mscsim.problem.problem import Problem
from mscsim.spec.scenario import Scenario

__all__ = ["problem_from_population", "sample_problem"]


def problem_from_population(
    scenario: Scenario,
    n_patients: int | None = None,
    *,
    model: Model | None = None,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
    patient_ids: NDArray[np.int64] | None = None,
) -> Problem:
    """Return the problem of ``n_patients`` patients drawn from ``scenario``'s ``[population]``.

    Each patient gets its own covariates, parameters and doses: a dose given per
    kg is ``cells_per_kg`` x the patient's own weight, times its own lot's
    viability when lots vary. Patient ``i`` is the same whoever is drawn with it.

    Parameters
    ----------
    scenario : Scenario
        A scenario with a ``[population]`` table.
    n_patients : int, optional
        Default ``scenario.simulation.n_patients``; ignored when ``patient_ids``
        is given.
    model : Model, optional
        Default: the scenario's :class:`~mscsim.models.TherapyModel`.
    policy : EvidencePolicy
        As in :func:`~mscsim.problem.problem_from_scenario` (checked on the
        typical patient).
    patient_ids : ndarray of int64, optional
        The patients to draw (default ``0 .. n_patients - 1``).

    Raises
    ------
    SpecError
        As :func:`~mscsim.problem.problem_from_scenario`, or if the scenario has
        no ``[population]``.
    """
    if scenario.population is None:
        raise SpecError("population: the scenario has no [population] table")
    typical = problem_from_scenario(scenario, model=model, policy=policy, n_patients=1)
    if patient_ids is None:
        n = scenario.simulation.n_patients if n_patients is None else n_patients
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SpecError(f"n_patients = {n!r}: must be a whole number >= 1")
        patient_ids = np.arange(n, dtype=np.int64)
    return sample_problem(typical, scenario, patient_ids)[0]


def sample_problem(
    typical: Problem, scenario: Scenario, patient_ids: NDArray[np.int64]
) -> tuple[Problem, VirtualPatients]:
    """Draw ``patient_ids`` around the typical patient's problem (no checks repeated).

    Returns the problem and the sampled patients (their covariates table).
    """
    patients = sample_patients(
        scenario,
        typical.params,
        typical.doses,
        np.asarray(patient_ids, dtype=np.int64),
        viability=typical.product.viability,
        model=typical.model,
    )
    problem = Problem(
        model=typical.model,
        params=patients.params,
        events=DoseEvents.shared(patients.doses, patients.patient_ids.size),
        times_day=typical.times_day,
        n_patients=int(patients.patient_ids.size),
        patient_ids=patients.patient_ids,
        provenance=typical.provenance,
    )
    return problem, patients
