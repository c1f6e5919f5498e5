"""Virtual populations: variability between patients and lots, chunked and scaled out."""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
    from mscsim.population.lots import LotVariability, lot_variability
    from mscsim.population.run import (
        DEFAULT_CHUNK_SIZE,
        PERCENTILES,
        PercentileSummary,
        PopulationChunk,
        map_chunks,
        patient_chunks,
        simulate_chunk,
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
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_WEIGHT_CV",
    "PERCENTILES",
    "LotVariability",
    "PercentileSummary",
    "PopulationChunk",
    "VirtualPatients",
    "deviates",
    "lot_variability",
    "map_chunks",
    "patient_chunks",
    "sample_patients",
    "simulate_chunk",
    "simulate_population",
    "simulate_scenario",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "lots": ["LotVariability", "lot_variability"],
        "run": [
            "DEFAULT_CHUNK_SIZE",
            "PERCENTILES",
            "PercentileSummary",
            "PopulationChunk",
            "map_chunks",
            "patient_chunks",
            "simulate_chunk",
            "simulate_population",
            "simulate_scenario",
        ],
        "sample": ["DEFAULT_WEIGHT_CV", "VirtualPatients", "deviates", "sample_patients"],
    },
)
