"""Virtual populations: variability between patients and lots, chunked and scaled out."""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
    from mscsim.population.build import problem_from_population, sample_problem
    from mscsim.population.lots import LotVariability, lot_variability
    from mscsim.population.run import (
        PERCENTILES,
        PercentileSummary,
        PopulationChunk,
        simulate_population,
        simulate_scenario,
    )
    from mscsim.population.sample import (
        DEFAULT_WEIGHT_CV,
        VirtualPatients,
        deviates,
        sample_patients,
    )

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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "build": ["problem_from_population", "sample_problem"],
        "lots": ["LotVariability", "lot_variability"],
        "run": [
            "PERCENTILES",
            "PercentileSummary",
            "PopulationChunk",
            "simulate_population",
            "simulate_scenario",
        ],
        "sample": ["DEFAULT_WEIGHT_CV", "VirtualPatients", "deviates", "sample_patients"],
    },
)
