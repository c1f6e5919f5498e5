"""A manufactured lot: its release test results (a lot file, TOML)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mscsim.spec.base import Choice, Name, SpecModel
from mscsim.spec.source import CellSource

__all__ = ["NEGATIVE_MARKERS", "POSITIVE_MARKERS", "Lot"]

POSITIVE_MARKERS: tuple[str, ...] = ("CD73", "CD90", "CD105")
"""Markers most cells must express (ISCT minimal criteria, R75)."""

NEGATIVE_MARKERS: tuple[str, ...] = ("CD34", "CD45", "CD14", "CD11b", "CD19", "CD79a", "HLA-DR")
"""Markers few cells may express (R75); CD14 or CD11b, and CD19 or CD79a, are alternatives."""


def _check_markers(value: dict[str, float], allowed: tuple[str, ...]) -> dict[str, float]:
    for name, pct in value.items():
        if name not in allowed:
            raise ValueError(f"{name}: unknown marker; allowed: {', '.join(allowed)}")
        if not 0 <= pct <= 100:
            raise ValueError(f"{name} = {pct!r}: must be a percentage from 0 to 100")
    return value


class Lot(SpecModel):
    """Release results of one lot.

    Parameters
    ----------
    viability_percent : float
        Viable cells, % (0-100], as released (post-thaw for frozen products).
    sterility, mycoplasma : {"negative", "positive"}
    endotoxin_eu_per_ml : float
        Endotoxin in the final product, EU/mL (>= 0).
    product_volume_ml : float
        Volume of the product, mL (> 0); with ``total_cells`` it gives the volume
        a planned dose takes.
    total_cells : float, optional
        Cells in ``product_volume_ml``. Without it a dose is taken to use the whole
        product volume.
    passage : int, optional
        Culture passage at harvest.
    population_doublings : float, optional
        Cumulative population doublings at harvest.
    trilineage_differentiation : bool
        Osteogenic, adipogenic and chondrogenic differentiation shown.
    potency : float, optional
        Potency assay result relative to the reference lot (1 = reference).
    markers_positive_percent, markers_negative_percent : dict of str to float
        Flow cytometry, % of cells (see :data:`POSITIVE_MARKERS`,
        :data:`NEGATIVE_MARKERS`).
    lot_id : str, optional
    source : CellSource, optional
        Tissue source; when given it must match the product's.
    """

    lot_id: Name | None = None
    source: Choice[CellSource] | None = None
    viability_percent: float = Field(gt=0, le=100, allow_inf_nan=False)
    sterility: Literal["negative", "positive"]
    mycoplasma: Literal["negative", "positive"]
    endotoxin_eu_per_ml: float = Field(ge=0, allow_inf_nan=False)
    product_volume_ml: float = Field(gt=0, le=10_000, allow_inf_nan=False)
    total_cells: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    passage: int | None = Field(default=None, ge=0, le=100)
    population_doublings: float | None = Field(default=None, ge=0, le=200, allow_inf_nan=False)
    trilineage_differentiation: bool
    potency: float | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    markers_positive_percent: dict[str, float] = Field(default_factory=dict)
    markers_negative_percent: dict[str, float] = Field(default_factory=dict)

    @field_validator("markers_positive_percent")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_markers(value, POSITIVE_MARKERS)

    @field_validator("markers_negative_percent")
    @classmethod
    def _negative(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_markers(value, NEGATIVE_MARKERS)

    @property
    def viability(self) -> float:
        """Viable fraction (0-1]."""
        return self.viability_percent / 100.0

    @property
    def label(self) -> str:
        """How messages name the lot."""
        return f"lot {self.lot_id!r}" if self.lot_id else "lot"
