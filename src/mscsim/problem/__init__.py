"""Problems: a model, per-patient parameters, per-patient dose events and output times.

Build one from a scenario (:func:`problem_from_scenario`, where every evidence
and lot check happens), from a population
(:func:`mscsim.population.problem_from_population`) or in code with :func:`ev`;
simulate it with :func:`solve`. Executors spread chunks of work.
"""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
    from mscsim.problem.build import (
        as_problem,
        default_model,
        problem_from_scenario,
        warn_population_unused,
    )
    from mscsim.problem.compat import ScenarioInputs, prepare_scenario
    from mscsim.problem.events import DoseEvents, EventPlan, ev
    from mscsim.problem.executors import (
        DEFAULT_CHUNK_SIZE,
        DaskExecutor,
        Executor,
        InProcess,
        patient_chunks,
    )
    from mscsim.problem.policy import EvidencePolicy
    from mscsim.problem.problem import Problem, Provenance, solve

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DaskExecutor",
    "DoseEvents",
    "EventPlan",
    "EvidencePolicy",
    "Executor",
    "InProcess",
    "Problem",
    "Provenance",
    "ScenarioInputs",
    "as_problem",
    "default_model",
    "ev",
    "patient_chunks",
    "prepare_scenario",
    "problem_from_scenario",
    "solve",
    "warn_population_unused",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "build": ["as_problem", "default_model", "problem_from_scenario", "warn_population_unused"],
        "compat": ["ScenarioInputs", "prepare_scenario"],
        "events": ["DoseEvents", "EventPlan", "ev"],
        "executors": [
            "DEFAULT_CHUNK_SIZE",
            "DaskExecutor",
            "Executor",
            "InProcess",
            "patient_chunks",
        ],
        "policy": ["EvidencePolicy"],
        "problem": ["Problem", "Provenance", "solve"],
    },
)
