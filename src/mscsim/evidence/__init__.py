"""Parameter library and dose evidence, each value with its source."""

from mscsim.evidence.doses import DoseAssessment, DoseEvidence, Verdict, assess_dose, dose_evidence
from mscsim.evidence.library import SITES, Parameter, ParameterLibrary, SiteDefault, load_library

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
