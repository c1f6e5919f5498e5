# The names mscsim.models exports, each imported from its module on first use
# (lazy_loader.attach_stub reads the imports; type checkers read all of it).

from .base import COVARIATES, Model, ModelBase, Params, StateIndex, full_rhs, target_site
from .diseases import (
    DISEASES,
    Disease,
    Inflammation,
    LimbIschemia,
    NoDisease,
    Outcome,
    SpinocerebellarAtaxia,
    disease_from_spec,
    register_disease,
)
from .kinetics import CELL_OUTPUTS, CellKinetics
from .organs import OrganKinetics
from .reference import local_first_order_cells
from .reference_drug import ReferenceDrug
from .therapy import TherapyModel

__all__ = [
    "CELL_OUTPUTS",
    "COVARIATES",
    "DISEASES",
    "CellKinetics",
    "Disease",
    "Inflammation",
    "LimbIschemia",
    "Model",
    "ModelBase",
    "NoDisease",
    "OrganKinetics",
    "Outcome",
    "Params",
    "ReferenceDrug",
    "SpinocerebellarAtaxia",
    "StateIndex",
    "TherapyModel",
    "disease_from_spec",
    "full_rhs",
    "local_first_order_cells",
    "register_disease",
    "target_site",
]
