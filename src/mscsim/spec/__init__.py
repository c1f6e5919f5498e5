"""Validated, frozen inputs: routes, doses, regimens, patients, products, scenarios."""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
    from mscsim.spec.disease import (
        DiseaseSpec,
        Genotype,
        InflammationSpec,
        LimbIschemiaSpec,
        NoDiseaseSpec,
        ScaSpec,
    )
    from mscsim.spec.dose import Dose
    from mscsim.spec.lot import Lot
    from mscsim.spec.patient import Patient
    from mscsim.spec.product import CellSource, Donor, Product
    from mscsim.spec.regimen import DoseEvent, Regimen
    from mscsim.spec.route import LOCAL_ROUTES, Route
    from mscsim.spec.scenario import Scenario, SimulationSettings

__all__ = [
    "LOCAL_ROUTES",
    "CellSource",
    "DiseaseSpec",
    "Donor",
    "Dose",
    "DoseEvent",
    "Genotype",
    "InflammationSpec",
    "LimbIschemiaSpec",
    "Lot",
    "NoDiseaseSpec",
    "Patient",
    "Product",
    "Regimen",
    "Route",
    "ScaSpec",
    "Scenario",
    "SimulationSettings",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "disease": [
            "DiseaseSpec",
            "Genotype",
            "InflammationSpec",
            "LimbIschemiaSpec",
            "NoDiseaseSpec",
            "ScaSpec",
        ],
        "dose": ["Dose"],
        "lot": ["Lot"],
        "patient": ["Patient"],
        "product": ["CellSource", "Donor", "Product"],
        "regimen": ["DoseEvent", "Regimen"],
        "route": ["LOCAL_ROUTES", "Route"],
        "scenario": ["Scenario", "SimulationSettings"],
    },
)
