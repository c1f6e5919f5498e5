"""A regimen: dose lines kept compact, expanded explicitly into a dose-event table."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mscsim.errors import SpecError
from mscsim.spec.dose import Dose
from mscsim.spec.route import Route
from mscsim.units import days_from_hours

__all__ = ["DoseEvent", "Regimen"]


@dataclass(frozen=True, slots=True)
class DoseEvent:
    """One administration, as produced by :meth:`Regimen.expand`.

    Attributes
    ----------
    time_day : float
        Start of the administration (day).
    route : Route
        Route of administration.
    cells : float | None
        Total cells, when the dose was given as a total.
    cells_per_kg : float | None
        Cells per kg, when the dose was given per kg.
    duration_day : float
        Infusion duration in days; 0 for a bolus.
    line : int
        Index of the dose line (``[[dose]]`` table) this event came from.
    """

    time_day: float
    route: Route
    cells: float | None
    cells_per_kg: float | None
    duration_day: float
    line: int

    def cells_for(self, weight_kg: float) -> float:
        """Return the total cells of this administration for a patient of ``weight_kg``."""
        if self.cells is not None:
            return self.cells
        assert self.cells_per_kg is not None  # noqa: S101 - one of the two is always set
        return self.cells_per_kg * weight_kg


class Regimen(BaseModel):
    """A sequence of dose lines.

    Examples
    --------
    >>> r = Regimen(doses=(Dose(route="intravenous", cells=1e8, every_days=90, count=4),))
    >>> [e.time_day for e in r.expand()]
    [0.0, 90.0, 180.0, 270.0]
    >>> r.then(r, wait_days=30).expand()[4].time_day
    300.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    doses: tuple[Dose, ...] = Field(default=())

    @property
    def routes(self) -> tuple[Route, ...]:
        """Distinct routes used, in order of first appearance."""
        return tuple(dict.fromkeys(d.route for d in self.doses))

    @property
    def last_day(self) -> float:
        """Day of the last administration (0 for an empty regimen)."""
        return max((d.last_day for d in self.doses), default=0.0)

    def expand(self) -> tuple[DoseEvent, ...]:
        """Expand every dose line into single administrations, sorted by time."""
        events = [
            DoseEvent(
                time_day=day,
                route=dose.route,
                cells=dose.cells,
                cells_per_kg=dose.cells_per_kg,
                duration_day=days_from_hours(dose.infusion_hours or 0.0),
                line=line,
            )
            for line, dose in enumerate(self.doses)
            for day in dose.days
        ]
        return tuple(sorted(events, key=lambda e: (e.time_day, e.line)))

    def total_cells(self, weight_kg: float) -> float:
        """Return the total cells over the whole regimen for a patient of ``weight_kg``."""
        return sum(d.total_cells(weight_kg) for d in self.doses)

    def shifted(self, days: float) -> Regimen:
        """Return the same regimen started ``days`` later."""
        if days < 0 and any(d.day + days < 0 for d in self.doses):
            raise SpecError(f"shift = {days}: would move a dose before day 0")
        return Regimen(doses=tuple(d.model_copy(update={"day": d.day + days}) for d in self.doses))

    def then(self, other: Regimen, *, wait_days: float) -> Regimen:
        """Append ``other``, started ``wait_days`` after this regimen's last dose."""
        if wait_days < 0:
            raise SpecError(f"wait_days = {wait_days}: must be >= 0")
        later = other.shifted(self.last_day + wait_days)
        return Regimen(doses=self.doses + later.doses)

    def to_frame(self, weight_kg: float | None = None) -> pd.DataFrame:
        """Return the dose-event table, one row per administration."""
        rows = [
            {
                "time_day": e.time_day,
                "route": e.route.value,
                "cells": e.cells_for(weight_kg) if weight_kg is not None else e.cells,
                "cells_per_kg": e.cells_per_kg,
                "duration_day": e.duration_day,
                "line": e.line,
            }
            for e in self.expand()
        ]
        return pd.DataFrame(rows)
