"""The cell product: tissue source, donor, viability, potency, HLA match and lot."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from mscsim.spec.base import Choice, SpecModel
from mscsim.spec.lot import Lot
from mscsim.spec.source import CellSource, Donor

__all__ = ["CellSource", "Donor", "Product"]


class Product(SpecModel):
    """The administered product.

    Parameters
    ----------
    source : CellSource
        Tissue source; its profile (``mscsim sources``) sets survival,
        immunogenicity and the typical post-thaw viability.
    donor : Donor
        ``autologous`` cells meet no immune response; ``allogeneic`` cells are
        cleared by the host, which can become sensitised to the donor.
    viability : float, optional
        Fraction of viable cells at administration, in (0, 1]. Default: the lot's
        viability if a lot is named, else the source's typical post-thaw viability.
        Release specifications commonly require >= 0.70-0.85 (evidence R109, R22).
    potency : float, optional
        Secretory potency relative to the reference lot (1 = reference), > 0.
        Default: the lot's potency if it has one, else 1.
    hla_match : float
        Fraction of matched HLA loci between donor and patient, 0-1 (default 0,
        an unrelated donor). Allogeneic donors only.
    donor_age_years : float, optional
        Age of an adult donor (bone marrow, adipose); changes potency. For
        autologous cells the patient's age is used.
    lot : Lot, optional
        Release results of the lot given (a lot file in scenario files).
    """

    source: Choice[CellSource]
    donor: Choice[Donor]
    viability: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    potency: float | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    hla_match: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)
    donor_age_years: float | None = Field(default=None, ge=0, le=120, allow_inf_nan=False)
    lot: Lot | None = None

    @model_validator(mode="after")
    def _check_consistent(self) -> Self:
        if "hla_match" in self.model_fields_set and self.donor is Donor.AUTOLOGOUS:
            raise ValueError(
                f"hla_match = {self.hla_match:g}: applies to allogeneic donors only "
                "(autologous cells are the patient's own)"
            )
        if self.donor_age_years is not None and self.source is CellSource.UMBILICAL_CORD:
            raise ValueError(
                f"donor_age_years = {self.donor_age_years:g}: umbilical-cord cells come from "
                "a newborn's tissue; donor age applies to bone_marrow and adipose"
            )
        lot = self.lot
        if lot is None:
            return self
        if self.viability is not None:
            raise ValueError(
                f"viability = {self.viability:g}: the lot gives viability_percent = "
                f"{lot.viability_percent:g}; keep one of them"
            )
        if self.potency is not None and lot.potency is not None:
            raise ValueError(
                f"potency = {self.potency:g}: the lot gives potency = {lot.potency:g}; "
                "keep one of them"
            )
        if lot.source is not None and lot.source is not self.source:
            raise ValueError(
                f"source = {self.source.value!r}: the lot is {lot.source.value!r}; "
                "they must be the same"
            )
        return self

    @property
    def is_allogeneic(self) -> bool:
        """Whether the host sees the cells as foreign."""
        return self.donor is Donor.ALLOGENEIC
