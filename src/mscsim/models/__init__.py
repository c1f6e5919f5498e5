"""Models: the shared contract, cell kinetics, paracrine effect, diseases, reference drug."""

from mscsim.models.base import COVARIATES, Model, Params, target_site
from mscsim.models.disease import (
    DISEASES,
    Disease,
    Inflammation,
    LimbIschemia,
    NoDisease,
    Outcome,
    SpinocerebellarAtaxia,
    disease_from_spec,
)
from mscsim.models.kinetics import CELL_OUTPUTS, CellKinetics
from mscsim.models.reference import local_first_order_cells
from mscsim.models.reference_drug import ReferenceDrug
from mscsim.models.therapy import TherapyModel

__all__ = [
    "CELL_OUTPUTS",
    "COVARIATES",
    "DISEASES",
    "CellKinetics",
    "Disease",
    "Inflammation",
    "LimbIschemia",
    "Model",
    "NoDisease",
    "Outcome",
    "Params",
    "ReferenceDrug",
    "SpinocerebellarAtaxia",
    "TherapyModel",
    "disease_from_spec",
    "local_first_order_cells",
    "target_site",
]
