"""Models: the shared contract, cell kinetics, paracrine effect, diseases, reference drug."""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
    from mscsim.models.base import (
        COVARIATES,
        Model,
        ModelBase,
        Params,
        StateIndex,
        full_rhs,
        target_site,
    )
    from mscsim.models.diseases import (
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
    "ModelBase",
    "NoDisease",
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "base": [
            "COVARIATES",
            "Model",
            "ModelBase",
            "Params",
            "StateIndex",
            "full_rhs",
            "target_site",
        ],
        "diseases": [
            "DISEASES",
            "Disease",
            "Inflammation",
            "LimbIschemia",
            "NoDisease",
            "Outcome",
            "SpinocerebellarAtaxia",
            "disease_from_spec",
            "register_disease",
        ],
        "kinetics": ["CELL_OUTPUTS", "CellKinetics"],
        "reference": ["local_first_order_cells"],
        "reference_drug": ["ReferenceDrug"],
        "therapy": ["TherapyModel"],
    },
)
