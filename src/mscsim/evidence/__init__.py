"""Parameter library and dose evidence, each value with its source."""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
    from mscsim.evidence.doses import (
        DoseAssessment,
        DoseEvidence,
        Verdict,
        assess_dose,
        dose_evidence,
    )
    from mscsim.evidence.library import (
        SITES,
        Parameter,
        ParameterLibrary,
        SiteDefault,
        load_library,
    )

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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "doses": ["DoseAssessment", "DoseEvidence", "Verdict", "assess_dose", "dose_evidence"],
        "library": ["SITES", "Parameter", "ParameterLibrary", "SiteDefault", "load_library"],
    },
)
