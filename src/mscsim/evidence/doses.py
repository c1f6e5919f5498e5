"""Clinical dose evidence by route, and the verdict on a proposed dose."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from mscsim.errors import SpecError
from mscsim.spec.route import Route

__all__ = ["DoseAssessment", "DoseEvidence", "Verdict", "assess_dose", "dose_evidence"]


class Verdict(StrEnum):
    """How a dose compares with the doses studied for its route."""

    TYPICAL = "typical"
    UNUSUAL = "unusual"
    BEYOND = "beyond the highest studied"
    NO_EVIDENCE = "no human dose evidence"


@dataclass(frozen=True, slots=True)
class DoseEvidence:
    """Typical and highest-studied doses for one route (cells per administration)."""

    route: Route
    typical_cells: tuple[float, float] | None
    typical_cells_per_kg: tuple[float, float] | None
    highest_cells: float | None
    highest_cells_per_kg: float | None
    source: str
    rule_of_thumb: str
    rule_source: str


@dataclass(frozen=True, slots=True)
class DoseAssessment:
    """The verdict on one administration."""

    route: Route
    cells: float
    cells_per_kg: float
    weight_kg: float
    verdict: Verdict
    reason: str
    evidence: DoseEvidence

    @property
    def is_beyond_evidence(self) -> bool:
        """Whether the dose exceeds every highest studied dose for its route."""
        return self.verdict is Verdict.BEYOND

    def to_record(self) -> dict[str, object]:
        """Return the verdict as plain data, full precision (``mscsim dose --json``)."""
        ev = self.evidence
        return {
            "route": self.route.value,
            "weight_kg": self.weight_kg,
            "cells": self.cells,
            "cells_per_kg": self.cells_per_kg,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "beyond_evidence": self.is_beyond_evidence,
            "typical_cells": ev.typical_cells,
            "typical_cells_per_kg": ev.typical_cells_per_kg,
            "highest_cells": ev.highest_cells,
            "highest_cells_per_kg": ev.highest_cells_per_kg,
            "evidence": ev.source,
            "rule_of_thumb": ev.rule_of_thumb,
            "rule_source": ev.rule_source,
        }


def _range(raw: Any) -> tuple[float, float] | None:
    return None if raw is None else (float(raw[0]), float(raw[1]))


@cache
def _load() -> dict[Route, DoseEvidence]:
    text = resources.files("mscsim.evidence").joinpath("data/doses.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    rule = raw["rule_of_thumb"]
    out = {}
    for route in Route:
        r = raw[route.value]
        out[route] = DoseEvidence(
            route=route,
            typical_cells=_range(r.get("typical_cells")),
            typical_cells_per_kg=_range(r.get("typical_cells_per_kg")),
            highest_cells=r.get("highest_cells"),
            highest_cells_per_kg=r.get("highest_cells_per_kg"),
            source=str(r["source"]),
            rule_of_thumb=str(rule["local" if route.is_local else "systemic"]),
            rule_source=str(rule["source"]),
        )
    return out


def dose_evidence(route: Route | str) -> DoseEvidence:
    """Return the dose evidence for ``route``."""
    return _load()[Route(route)]


def _within(x: float, bounds: tuple[float, float] | None) -> bool:
    return bounds is not None and bounds[0] <= x <= bounds[1]


def assess_dose(route: Route | str, *, cells: float, weight_kg: float) -> DoseAssessment:
    """Compare one administration with the doses studied for its route.

    A dose is *typical* inside a typical range (absolute or per kg), *beyond the
    highest studied* when it exceeds every highest-studied bound the evidence
    gives (absolute and per kg), and *unusual* otherwise.

    Parameters
    ----------
    route : Route or str
        Route of administration.
    cells : float
        Total cells in the administration, > 0.
    weight_kg : float
        Body weight, > 0.

    Examples
    --------
    >>> assess_dose("intravenous", cells=6.5e7, weight_kg=65).verdict.value
    'typical'
    >>> assess_dose("intravenous", cells=1.3e9, weight_kg=65).verdict.value
    'beyond the highest studied'
    """
    try:
        route = Route(route)
    except ValueError:
        allowed = ", ".join(r.value for r in Route)
        raise SpecError(f"route = {route!r}: must be one of {allowed}") from None
    if not cells > 0:
        raise SpecError(f"cells = {cells!r}: must be > 0")
    if not weight_kg > 0:
        raise SpecError(f"weight_kg = {weight_kg!r}: must be > 0")
    ev = dose_evidence(route)
    per_kg = cells / weight_kg
    limits = [
        (cells, ev.highest_cells, "cells"),
        (per_kg, ev.highest_cells_per_kg, "cells/kg"),
    ]
    given = [(x, hi, u) for x, hi, u in limits if hi is not None]
    if not given:
        verdict, reason = Verdict.NO_EVIDENCE, "no human dose for this route in the evidence"
    elif all(x > hi for x, hi, _ in given):
        verdict = Verdict.BEYOND
        reason = "above " + " and ".join(f"{hi:.3g} {u}" for _, hi, u in given)
    elif _within(cells, ev.typical_cells) or _within(per_kg, ev.typical_cells_per_kg):
        verdict, reason = Verdict.TYPICAL, "within the range commonly used"
    else:
        verdict, reason = Verdict.UNUSUAL, "outside the common range but within doses studied"
    return DoseAssessment(route, cells, per_kg, weight_kg, verdict, reason, ev)
