"""A regimen: dose lines kept compact, expanded explicitly into a dose-event table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import Field

from mscsim.errors import SpecError
from mscsim.spec.base import Items, SpecModel
from mscsim.spec.dose import Dose
from mscsim.spec.route import Route
from mscsim.units import days_from_hours

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DAY_TOLERANCE", "DoseEvent", "Regimen"]

DAY_TOLERANCE = 1e-9
"""Days by which an administration may pass ``until_day`` (rounding of ``day + i * every_days``)."""


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


class Regimen(SpecModel):
    """A sequence of dose lines, given up to ``until_day``.

    Parameters
    ----------
    doses : tuple of Dose
    until_day : float, optional
        Last day of the simulation: administrations after it are not given (a
        scenario's regimen stops at ``simulation.horizon_days``). Default: none
        is left out.

    Examples
    --------
    >>> r = Regimen(doses=(Dose(route="intravenous", cells=1e8, every_days=90, count=4),))
    >>> [e.time_day for e in r.expand()]
    [0.0, 90.0, 180.0, 270.0]
    >>> r.then(r, wait_days=30).expand()[4].time_day
    300.0
    >>> short = r.model_copy(update={"until_day": 100.0})
    >>> [e.time_day for e in short.expand()], short.n_left_out
    ([0.0, 90.0], 2)
    """

    doses: Items[Dose] = ()
    until_day: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @property
    def routes(self) -> tuple[Route, ...]:
        """Distinct routes given, in the order of the dose lines."""
        given = {e.line for e in self.expand()}
        return tuple(dict.fromkeys(d.route for i, d in enumerate(self.doses) if i in given))

    @property
    def last_day(self) -> float:
        """Day of the last administration given (0 for none)."""
        return max((e.time_day for e in self.expand()), default=0.0)

    @property
    def n_left_out(self) -> int:
        """Administrations of the dose lines that fall after ``until_day``."""
        return sum(d.count for d in self.doses) - len(self.expand())

    def expand(self) -> tuple[DoseEvent, ...]:
        """Expand every dose line into single administrations up to ``until_day``, by time."""
        until = math.inf if self.until_day is None else self.until_day + DAY_TOLERANCE
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
            if day <= until
        ]
        return tuple(sorted(events, key=lambda e: (e.time_day, e.line)))

    def total_cells(self, weight_kg: float) -> float:
        """Return the total cells given over the regimen to a patient of ``weight_kg``."""
        return math.fsum(e.cells_for(weight_kg) for e in self.expand())

    def shifted(self, days: float) -> Regimen:
        """Return the same regimen started ``days`` later."""
        if days < 0 and any(d.day + days < 0 for d in self.doses):
            raise SpecError(f"shift = {days}: would move a dose before day 0")
        doses = tuple(d.model_copy(update={"day": d.day + days}) for d in self.doses)
        return self.model_copy(update={"doses": doses})

    def then(self, other: Regimen, *, wait_days: float) -> Regimen:
        """Append ``other``, started ``wait_days`` after this regimen's last dose."""
        if wait_days < 0:
            raise SpecError(f"wait_days = {wait_days}: must be >= 0")
        later = other.shifted(self.last_day + wait_days)
        return self.model_copy(update={"doses": self.doses + later.doses})

    def to_frame(self, weight_kg: float | None = None) -> pd.DataFrame:
        """Return the dose-event table, one row per administration."""
        import pandas as pd  # loaded when a table is asked for

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
