"""Release criteria for a lot: the ISCT minimal criteria and common release specifications.

Each criterion names its source (``R#`` of the evidence dossier). Limits:

- viability >= 70% (CONCERT-HF thawed product R22; clinical BM-MSC R109c; some
  specifications require 80-85%, R109a, b, d);
- sterility and mycoplasma negative (R22, R109a-e);
- endotoxin <= 5 EU/kg per hour at the planned dose and weight (R22, R109d);
- >= 95% of cells CD73+, CD90+, CD105+ and <= 2% CD34+, CD45+, CD14+ or CD11b+,
  CD19+ or CD79a+, HLA-DR+ (ISCT, R75);
- trilineage differentiation in vitro (R75).

Passage, population doublings and the potency value are reported, not judged: the
evidence gives no limit for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from mscsim.spec.lot import Lot

__all__ = [
    "ENDOTOXIN_LIMIT_EU_PER_KG_H",
    "MARKER_NEGATIVE_MAX_PERCENT",
    "MARKER_POSITIVE_MIN_PERCENT",
    "VIABILITY_MIN_PERCENT",
    "Criterion",
    "LotAssessment",
    "Status",
    "assess_lot",
]

VIABILITY_MIN_PERCENT = 70.0
ENDOTOXIN_LIMIT_EU_PER_KG_H = 5.0
MARKER_POSITIVE_MIN_PERCENT = 95.0
MARKER_NEGATIVE_MAX_PERCENT = 2.0

_ISCT = "R75 (ISCT)"
_NEGATIVE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("CD34",),
    ("CD45",),
    ("CD14", "CD11b"),
    ("CD19", "CD79a"),
    ("HLA-DR",),
)


class Status(StrEnum):
    """Outcome of one criterion."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    INFO = "info"
    """Reported, not judged (no limit in the evidence)."""
    NOT_ASSESSED = "not assessed"
    """Needs an input that was not given (the planned dose and weight)."""


@dataclass(frozen=True, slots=True)
class Criterion:
    """One release criterion and its result for a lot."""

    name: str
    requirement: str
    result: str
    status: Status
    source: str

    @property
    def line(self) -> str:
        """One line: verdict, criterion, result and requirement."""
        return (
            f"{self.status.value.upper()} {self.name}: {self.result} (requires {self.requirement})"
        )


@dataclass(frozen=True)
class LotAssessment:
    """Every criterion's result for one lot."""

    lot: Lot
    criteria: tuple[Criterion, ...]

    @property
    def failures(self) -> tuple[Criterion, ...]:
        """The criteria the lot fails."""
        return tuple(c for c in self.criteria if c.status is Status.FAIL)

    @property
    def passed(self) -> bool:
        """Whether no criterion fails."""
        return not self.failures

    def summary(self) -> str:
        """One line: passes, or which criteria fail."""
        judged = [c for c in self.criteria if c.status in (Status.PASS, Status.FAIL)]
        if self.passed:
            return f"{self.lot.label} passes all {len(judged)} release criteria"
        names = ", ".join(c.name for c in self.failures)
        n_failed = len(self.failures)
        return f"{self.lot.label} fails {n_failed} of {len(judged)} release criteria: {names}"

    def to_frame(self) -> pd.DataFrame:
        """Return one row per criterion."""
        return pd.DataFrame(
            [
                {
                    "criterion": c.name,
                    "requirement": c.requirement,
                    "result": c.result,
                    "status": c.status.value,
                    "source": c.source,
                }
                for c in self.criteria
            ]
        )


def _judge(ok: bool) -> Status:
    return Status.PASS if ok else Status.FAIL


def _endotoxin(
    lot: Lot, cells: float | None, weight_kg: float | None, infusion_hours: float | None
) -> Criterion:
    requirement = f"<= {ENDOTOXIN_LIMIT_EU_PER_KG_H:g} EU/kg/h"
    source = "R22; R109d"
    if weight_kg is None:
        return Criterion(
            "endotoxin",
            requirement,
            f"{lot.endotoxin_eu_per_ml:g} EU/mL; needs the planned dose and weight (--weight-kg)",
            Status.NOT_ASSESSED,
            source,
        )
    share = 1.0
    if cells is not None and lot.total_cells is not None:
        share = cells / lot.total_cells
    volume = lot.product_volume_ml * share
    hours = max(infusion_hours or 1.0, 1.0)
    per_kg_h = lot.endotoxin_eu_per_ml * volume / weight_kg / hours
    whole = " (whole product)" if share == 1.0 else ""
    result = (
        f"{per_kg_h:.3g} EU/kg/h = {lot.endotoxin_eu_per_ml:g} EU/mL x {volume:.3g} mL{whole}"
        f" / {weight_kg:g} kg / {hours:g} h"
    )
    return Criterion(
        "endotoxin", requirement, result, _judge(per_kg_h <= ENDOTOXIN_LIMIT_EU_PER_KG_H), source
    )


def _markers(lot: Lot) -> list[Criterion]:
    out = []
    for name in ("CD73", "CD90", "CD105"):
        pct = lot.markers_positive_percent.get(name)
        result = "not reported" if pct is None else f"{pct:g}%"
        ok = pct is not None and pct >= MARKER_POSITIVE_MIN_PERCENT
        out.append(
            Criterion(f"{name}+", f">= {MARKER_POSITIVE_MIN_PERCENT:g}%", result, _judge(ok), _ISCT)
        )
    for group in _NEGATIVE_GROUPS:
        reported = {
            m: lot.markers_negative_percent[m] for m in group if m in lot.markers_negative_percent
        }
        label = " or ".join(group)
        if not reported:
            result, ok = "not reported", False
        else:
            result = ", ".join(
                f"{p:g}%" if len(group) == 1 else f"{m} {p:g}%" for m, p in reported.items()
            )
            ok = all(p <= MARKER_NEGATIVE_MAX_PERCENT for p in reported.values())
        out.append(
            Criterion(
                f"{label}-", f"<= {MARKER_NEGATIVE_MAX_PERCENT:g}%", result, _judge(ok), _ISCT
            )
        )
    return out


def assess_lot(
    lot: Lot,
    *,
    cells: float | None = None,
    weight_kg: float | None = None,
    infusion_hours: float | None = None,
) -> LotAssessment:
    """Check ``lot`` against the release criteria.

    Parameters
    ----------
    lot : Lot
    cells : float, optional
        Cells in the planned administration (with ``lot.total_cells`` it sets the
        volume given; without, the whole product volume is taken).
    weight_kg : float, optional
        Patient weight; without it the endotoxin criterion is not assessed.
    infusion_hours : float, optional
        Infusion length; endotoxin is counted per hour over at least 1 h.

    Examples
    --------
    >>> lot = Lot(viability_percent=65, sterility="negative", mycoplasma="negative",
    ...           endotoxin_eu_per_ml=0.5, product_volume_ml=50,
    ...           trilineage_differentiation=True)
    >>> assess_lot(lot).failures[0].line
    'FAIL viability: 65% (requires >= 70%)'
    """
    criteria = [
        Criterion(
            "viability",
            f">= {VIABILITY_MIN_PERCENT:g}%",
            f"{lot.viability_percent:g}%",
            _judge(lot.viability_percent >= VIABILITY_MIN_PERCENT),
            "R22; R109c (80-85%: R109a, b, d)",
        ),
        Criterion(
            "sterility",
            "negative",
            lot.sterility,
            _judge(lot.sterility == "negative"),
            "R22; R109a-e",
        ),
        Criterion(
            "mycoplasma",
            "negative",
            lot.mycoplasma,
            _judge(lot.mycoplasma == "negative"),
            "R109a, b, d, e",
        ),
        _endotoxin(lot, cells, weight_kg, infusion_hours),
        *_markers(lot),
        Criterion(
            "trilineage differentiation",
            "osteo-, adipo-, chondrogenic",
            "shown" if lot.trilineage_differentiation else "not shown",
            _judge(lot.trilineage_differentiation),
            _ISCT,
        ),
    ]
    for name, value in (
        ("passage", lot.passage),
        ("population doublings", lot.population_doublings),
        ("potency", lot.potency),
    ):
        result = "not reported" if value is None else f"{value:g}"
        criteria.append(
            Criterion(name, "reported only (no limit in the evidence)", result, Status.INFO, "-")
        )
    return LotAssessment(lot, tuple(criteria))
