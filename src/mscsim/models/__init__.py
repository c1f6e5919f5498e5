"""Models: the shared contract and built-in models (kinetics by route)."""

from mscsim.models.base import COVARIATES, Model, Params, target_site
from mscsim.models.kinetics import CELL_OUTPUTS, CellKinetics
from mscsim.models.reference import local_first_order_cells

__all__ = [
    "CELL_OUTPUTS",
    "COVARIATES",
    "CellKinetics",
    "Model",
    "Params",
    "local_first_order_cells",
    "target_site",
]
