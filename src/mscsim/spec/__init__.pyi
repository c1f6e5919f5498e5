# The names mscsim.spec exports, each imported from its module on first use
# (lazy_loader.attach_stub reads the imports; type checkers read all of it).

from .disease import (
    DiseaseSpec,
    Genotype,
    InflammationSpec,
    LimbIschemiaSpec,
    NoDiseaseSpec,
    ScaSpec,
)
from .dose import Dose
from .lot import Lot
from .model import Kinetics, LabelKind, LabelSpec, ModelSettings, Species
from .patient import Patient
from .product import CellSource, Donor, Product
from .regimen import DoseEvent, Regimen
from .route import LOCAL_ROUTES, Route
from .scenario import Scenario, SimulationSettings

__all__ = [
    "LOCAL_ROUTES",
    "CellSource",
    "DiseaseSpec",
    "Donor",
    "Dose",
    "DoseEvent",
    "Genotype",
    "InflammationSpec",
    "Kinetics",
    "LabelKind",
    "LabelSpec",
    "LimbIschemiaSpec",
    "Lot",
    "ModelSettings",
    "NoDiseaseSpec",
    "Patient",
    "Product",
    "Regimen",
    "Route",
    "ScaSpec",
    "Scenario",
    "SimulationSettings",
    "Species",
]
