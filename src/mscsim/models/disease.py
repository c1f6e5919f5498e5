"""Former home of the disease courses, kept so old imports work.

The diseases now live in :mod:`mscsim.models.diseases` (one module per disease
and one registry).
"""

from mscsim.models.diseases import (
    BASELINE_COVARIATE,
    DISEASES,
    Disease,
    Inflammation,
    LimbIschemia,
    NoDisease,
    Outcome,
    SpinocerebellarAtaxia,
    disease_from_spec,
)

__all__ = [
    "BASELINE_COVARIATE",
    "DISEASES",
    "Disease",
    "Inflammation",
    "LimbIschemia",
    "NoDisease",
    "Outcome",
    "SpinocerebellarAtaxia",
    "disease_from_spec",
]
