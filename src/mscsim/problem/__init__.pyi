# The names mscsim.problem exports, each imported from its module on first use
# (lazy_loader.attach_stub reads the imports; type checkers read all of it).

from .build import as_problem, default_model, problem_from_scenario, warn_population_unused
from .compat import ScenarioInputs, prepare_scenario
from .data import Observations
from .events import DoseEvents, EventPlan, ev
from .executors import DEFAULT_CHUNK_SIZE, DaskExecutor, Executor, InProcess, patient_chunks
from .policy import EvidencePolicy
from .problem import Problem, Provenance, solve

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DaskExecutor",
    "DoseEvents",
    "EventPlan",
    "EvidencePolicy",
    "Executor",
    "InProcess",
    "Observations",
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
