"""Where cells come from: tissue source and donor."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CellSource", "Donor"]


class CellSource(StrEnum):
    """Tissue the MSCs were isolated from."""

    BONE_MARROW = "bone_marrow"
    UMBILICAL_CORD = "umbilical_cord"
    ADIPOSE = "adipose"


class Donor(StrEnum):
    """Whether the cells come from the patient or from another person."""

    AUTOLOGOUS = "autologous"
    ALLOGENEIC = "allogeneic"
