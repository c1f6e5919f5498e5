"""Virtual populations: variability between patients and lots, chunked and scaled out."""

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
)
from mscsim.population.sample import DEFAULT_WEIGHT_CV, VirtualPatients, deviates, sample_patients

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
]
