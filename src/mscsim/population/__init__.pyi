# The names mscsim.population exports, each imported from its module on first use
# (lazy_loader.attach_stub reads the imports; type checkers read all of it).

from .build import problem_from_population, sample_problem
from .lots import LotVariability, lot_variability
from .run import (
    PERCENTILES,
    PercentileSummary,
    PopulationChunk,
    simulate_population,
    simulate_scenario,
)
from .sample import DEFAULT_WEIGHT_CV, VirtualPatients, deviates, sample_patients

__all__ = [
    "DEFAULT_WEIGHT_CV",
    "PERCENTILES",
    "LotVariability",
    "PercentileSummary",
    "PopulationChunk",
    "VirtualPatients",
    "deviates",
    "lot_variability",
    "problem_from_population",
    "sample_patients",
    "sample_problem",
    "simulate_population",
    "simulate_scenario",
]
