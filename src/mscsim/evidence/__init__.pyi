# The names mscsim.evidence exports, each imported from its module on first use
# (lazy_loader.attach_stub reads the imports; type checkers read all of it).

from .doses import DoseAssessment, DoseEvidence, Verdict, assess_dose, dose_evidence
from .library import SITES, Parameter, ParameterLibrary, SiteDefault, load_library

__all__ = [
    "SITES",
    "DoseAssessment",
    "DoseEvidence",
    "Parameter",
    "ParameterLibrary",
    "SiteDefault",
    "Verdict",
    "assess_dose",
    "dose_evidence",
    "load_library",
]
