"""The cell product: tissue source, donor type and viability at administration."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CellSource", "Donor", "Product"]


class CellSource(StrEnum):
    """Tissue the MSCs were isolated from."""

    BONE_MARROW = "bone_marrow"
    UMBILICAL_CORD = "umbilical_cord"
    ADIPOSE = "adipose"


class Donor(StrEnum):
    """Whether the cells come from the patient or from another person."""

    AUTOLOGOUS = "autologous"
    ALLOGENEIC = "allogeneic"


class Product(BaseModel):
    """The administered product.

    Parameters
    ----------
    source : CellSource
        Tissue source.
    donor : Donor
        ``autologous`` cells have no immune clearance; ``allogeneic`` cells do.
    viability : float
        Fraction of viable cells at administration, in (0, 1]. Release
        specifications commonly require >= 0.70-0.85 (evidence R109, R22).
    potency : float
        Secretory potency relative to the reference lot (1 = reference), > 0.
        It scales the secretion rate of every viable cell.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: CellSource
    donor: Donor
    viability: float = Field(gt=0, le=1, allow_inf_nan=False)
    potency: float = Field(default=1.0, gt=0, le=100, allow_inf_nan=False)

    @property
    def is_allogeneic(self) -> bool:
        """Whether the host sees the cells as foreign."""
        return self.donor is Donor.ALLOGENEIC
