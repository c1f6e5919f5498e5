"""Cell-source profiles: bone-marrow, umbilical-cord and adipose MSCs, with sources.

Each profile holds factors relative to the library defaults (secretory potency,
survival, immunogenicity), the typical post-thaw viability, the effect of donor
age where evidence exists, and the lot-to-lot spread of potency and viability.
Values live in ``data/sources.toml`` with an evidence tag and references (``R#``).

Examples
--------
>>> p = source_profile("umbilical_cord")
>>> p.post_thaw_viability
0.944
>>> round(source_profile("bone_marrow").donor_age_factor(50.0), 3)  # two decades above 30
0.81
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pandas as pd

from mscsim.errors import EvidenceError, SpecError
from mscsim.evidence.library import SiteDefault
from mscsim.spec.product import Product
from mscsim.spec.source import CellSource

__all__ = [
    "PROFILE_FIELDS",
    "REFERENCE_DONOR_AGE_YEARS",
    "ProfileValue",
    "ResolvedProduct",
    "SourceProfile",
    "resolve_product",
    "source_profile",
    "source_profiles",
]

REFERENCE_DONOR_AGE_YEARS = 30.0
"""Donor age at which the donor-age factor is 1."""

PROFILE_FIELDS: dict[str, tuple[str, str]] = {
    "potency": ("x", "secretion per viable cell, relative to the library default"),
    "survival": ("x", "every cell half-life, relative to the library defaults"),
    "immunogenicity": ("x", "innate clearance and priming of allogeneic cells"),
    "ibmir_factor": ("x", "IBMIR loss of intravenous and intra-arterial doses"),
    "post_thaw_viability": ("fraction", "viable fraction right after thaw"),
    "potency_ratio_per_decade": ("x per decade", "potency per decade of donor age above 30"),
    "lot_potency_cv": ("CV", "lot-to-lot coefficient of variation of potency"),
    "lot_viability_sd": ("fraction", "lot-to-lot SD of post-thaw viability"),
}
"""Profile fields: unit and meaning."""

_REQUIRED = set(PROFILE_FIELDS) - {"potency_ratio_per_decade"}


ProfileValue = SiteDefault
"""One documented value of a source profile: value, plausible range, evidence tag and
source, the same record as a parameter's site default."""


@dataclass(frozen=True)
class SourceProfile:
    """What is known of MSCs from one tissue source.

    ``potency_ratio_per_decade`` is absent for umbilical cord: its donor is a
    newborn, and the adult-donor age effect does not apply.
    """

    source: CellSource
    values: Mapping[str, ProfileValue]

    def _get(self, name: str) -> float:
        return self.values[name].value

    @property
    def potency(self) -> float:
        """Secretory potency relative to the library default."""
        return self._get("potency")

    @property
    def survival(self) -> float:
        """Factor on every cell half-life."""
        return self._get("survival")

    @property
    def immunogenicity(self) -> float:
        """Factor on the innate clearance and the priming of allogeneic cells."""
        return self._get("immunogenicity")

    @property
    def ibmir_factor(self) -> float:
        """Factor on the IBMIR loss of intravascular doses."""
        return self._get("ibmir_factor")

    @property
    def post_thaw_viability(self) -> float:
        """Typical viable fraction right after thaw."""
        return self._get("post_thaw_viability")

    @property
    def has_donor_age_effect(self) -> bool:
        """Whether donor age changes potency (adult-donor sources)."""
        return "potency_ratio_per_decade" in self.values

    def donor_age_factor(self, age_years: float | None) -> float:
        """Return the potency factor of a donor aged ``age_years`` (1 when unknown).

        ``potency_ratio_per_decade ** ((age - 30) / 10)``: above 1 for donors
        younger than 30, below 1 for older ones.

        Raises
        ------
        SpecError
            For an age given to a source without a donor-age effect.
        """
        if age_years is None:
            return 1.0
        if not self.has_donor_age_effect:
            raise SpecError(
                f"product.donor_age_years = {age_years:g}: {self.source.value} cells come "
                "from a newborn's tissue; donor age applies to bone_marrow and adipose"
            )
        ratio = self._get("potency_ratio_per_decade")
        return float(ratio ** ((age_years - REFERENCE_DONOR_AGE_YEARS) / 10.0))

    def to_frame(self) -> pd.DataFrame:
        """Return one row per field: value, unit, plausible range, evidence and source."""
        rows = []
        for name, v in self.values.items():
            unit, meaning = PROFILE_FIELDS[name]
            rows.append(
                {
                    "source_type": self.source.value,
                    "field": name,
                    "value": v.value,
                    "unit": unit,
                    "plausible_low": v.plausible[0],
                    "plausible_high": v.plausible[1],
                    "evidence": v.evidence,
                    "description": meaning,
                    "source": v.source,
                }
            )
        return pd.DataFrame(rows)


def _parse(source: str, raw: Mapping[str, Mapping[str, object]]) -> SourceProfile:
    unknown = set(raw) - set(PROFILE_FIELDS)
    missing = _REQUIRED - set(raw)
    if unknown or missing:
        raise EvidenceError(
            f"source profiles: {source} has unknown {sorted(unknown)} / missing {sorted(missing)}"
        )
    values = {}
    for name, entry in raw.items():
        low, high = (float(x) for x in entry["plausible"])  # type: ignore[attr-defined]
        value = float(entry["value"])  # type: ignore[arg-type]
        if not low <= value <= high or math.isnan(value):
            raise EvidenceError(f"source profiles: {source}.{name} = {value} outside its range")
        values[name] = ProfileValue(
            value, (low, high), str(entry["evidence"]), str(entry["source"])
        )
    return SourceProfile(CellSource(source), values)


@cache
def source_profiles() -> dict[CellSource, SourceProfile]:
    """Return the built-in profile of every cell source (read once, then cached)."""
    text = resources.files("mscsim.evidence").joinpath("data/sources.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    profiles = {CellSource(k): _parse(k, v) for k, v in raw.items()}
    if set(profiles) != set(CellSource):
        raise EvidenceError("source profiles: every cell source needs a profile")
    return profiles


def source_profile(source: CellSource | str) -> SourceProfile:
    """Return the profile of ``source``."""
    return source_profiles()[CellSource(source)]


@dataclass(frozen=True, slots=True)
class ResolvedProduct:
    """A product's values for the simulation, with where each came from.

    Attributes
    ----------
    viability : float
        Viable fraction at administration.
    viability_from : str
        ``"product"``, ``"lot"`` or ``"source"`` (typical post-thaw viability).
    potency : float
        Secretory potency: the lot's or product's value (default 1) times the
        source's factor times the donor-age factor.
    donor_age_factor : float
    survival, immunogenicity : float
        The source's factors.
    hla_match : float
    ibmir_factor : float
        The source's factor on the IBMIR loss.
    """

    viability: float
    viability_from: str
    potency: float
    donor_age_factor: float
    survival: float
    immunogenicity: float
    hla_match: float
    ibmir_factor: float = 1.0

    def covariates(self) -> dict[str, float]:
        """Return the per-patient covariates the models read."""
        return {
            "potency": self.potency,
            "cell_survival": self.survival,
            "immunogenicity": self.immunogenicity,
            "hla_match": self.hla_match,
            "ibmir_factor": self.ibmir_factor,
        }


def resolve_product(product: Product, *, patient_age_years: float | None = None) -> ResolvedProduct:
    """Resolve ``product`` with its source profile and lot.

    Viability comes from the product, else its lot, else the source's typical
    post-thaw viability. Potency from the product, else the lot, else 1; times the
    source's potency and the donor-age factor. An autologous donor is the patient,
    so ``patient_age_years`` is the donor age when the product gives none.
    """
    profile = source_profile(product.source)
    lot = product.lot
    if product.viability is not None:
        viability, origin = product.viability, "product"
    elif lot is not None:
        viability, origin = lot.viability, "lot"
    else:
        viability, origin = profile.post_thaw_viability, "source"
    base = product.potency or (lot.potency if lot is not None else None) or 1.0
    donor_age = product.donor_age_years
    if donor_age is None and not product.is_allogeneic and profile.has_donor_age_effect:
        donor_age = patient_age_years
    age_factor = profile.donor_age_factor(donor_age)
    return ResolvedProduct(
        viability=viability,
        viability_from=origin,
        potency=base * profile.potency * age_factor,
        donor_age_factor=age_factor,
        survival=profile.survival,
        immunogenicity=profile.immunogenicity,
        hla_match=product.hla_match,
        ibmir_factor=profile.ibmir_factor,
    )
