"""Disease courses: the shared contract, one registry and one module per disease.

Importing this package registers the built-in diseases (``none``, ``sca``,
``limb_ischemia``, ``inflammation``). A new disease is one module that defines
its ``[disease]`` table (a :class:`~mscsim.spec.disease.DiseaseSpecBase`), its
course (a :class:`Disease`) and calls :func:`register_disease`, plus its
parameter rows in the library.
"""

# Import order is registration order, the order of listings: keep it unsorted.
# ruff: noqa: I001
from mscsim.models.diseases.base import BASELINE_COVARIATE, Disease, Outcome
from mscsim.models.diseases.registry import (
    DISEASES,
    DiseaseEntry,
    disease_entries,
    disease_from_spec,
    register_disease,
)
from mscsim.models.diseases.none import NoDisease
from mscsim.models.diseases.sca import SpinocerebellarAtaxia
from mscsim.models.diseases.limb_ischemia import LimbIschemia
from mscsim.models.diseases.inflammation import Inflammation

__all__ = [
    "BASELINE_COVARIATE",
    "DISEASES",
    "Disease",
    "DiseaseEntry",
    "Inflammation",
    "LimbIschemia",
    "NoDisease",
    "Outcome",
    "SpinocerebellarAtaxia",
    "disease_entries",
    "disease_from_spec",
    "register_disease",
]
