"""One line of a dosing schedule: a route, an amount and its timing."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from mscsim.spec.base import Choice, SpecModel
from mscsim.spec.route import Route
from mscsim.units import cells_from_per_kg

__all__ = ["MIN_INFUSION_HOURS", "Dose"]

MIN_INFUSION_HOURS = 1 / 60
"""Shortest infusion (one minute); a faster administration is a bolus (omit the key)."""


class Dose(SpecModel):
    """A dose, or a repeating series of equal doses, by one route.

    Parameters
    ----------
    route : Route
        Route of administration.
    cells : float, optional
        Total cells per administration (as labelled; viability is applied later).
    cells_per_kg : float, optional
        Cells per kilogram of body weight per administration. Give exactly one of
        ``cells`` and ``cells_per_kg``.
    day : float
        Day of the first administration, >= 0. Default 0.
    every_days : float, optional
        Interval between administrations in days (NONMEM's ``II``); required
        when ``count > 1``.
    count : int
        Total number of administrations, the first included, >= 1. Default 1.
        NONMEM's ``ADDL`` counts the additional doses after the first, so
        ``count = ADDL + 1``: ``day = 0, every_days = 90, count = 4`` gives
        doses on days 0, 90, 180 and 270. Administrations after a scenario's
        ``simulation.horizon_days`` are not simulated (with a warning).
    infusion_hours : float, optional
        Duration of an intravenous infusion, from one minute to 72 h; omitted
        means a bolus.

    Examples
    --------
    >>> Dose(route="intravenous", cells_per_kg=1e6, every_days=90, count=4).total_cells(65)
    260000000.0
    """

    route: Choice[Route]
    cells: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    cells_per_kg: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    day: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    every_days: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    count: int = Field(default=1, ge=1, le=10_000)
    infusion_hours: float | None = Field(default=None, gt=0, le=72, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if (self.cells is None) == (self.cells_per_kg is None):
            given = "both" if self.cells is not None else "neither"
            raise ValueError(
                f"cells / cells_per_kg: {given} given; give exactly one "
                "(e.g. cells = 5e7 or cells_per_kg = 1e6)"
            )
        if self.count > 1 and self.every_days is None:
            raise ValueError(
                f"every_days: missing while count = {self.count}; "
                "a repeating schedule needs the interval in days (e.g. every_days = 90)"
            )
        if self.infusion_hours is not None and self.infusion_hours < MIN_INFUSION_HOURS:
            raise ValueError(
                f"infusion_hours = {self.infusion_hours}: must be at least one minute "
                f"({MIN_INFUSION_HOURS:.4f} h); omit it for a bolus"
            )
        if self.infusion_hours is not None and self.route is not Route.INTRAVENOUS:
            raise ValueError(
                f"infusion_hours = {self.infusion_hours}: only intravenous doses are infused; "
                f"remove it for route {self.route.value}"
            )
        if (
            self.infusion_hours is not None
            and self.every_days is not None
            and self.count > 1
            and self.infusion_hours / 24.0 > self.every_days
        ):
            raise ValueError(
                f"infusion_hours = {self.infusion_hours}: longer than every_days = "
                f"{self.every_days}; infusions of one schedule must not overlap"
            )
        return self

    @property
    def days(self) -> tuple[float, ...]:
        """Days of every administration of this line."""
        step = self.every_days or 0.0
        return tuple(self.day + i * step for i in range(self.count))

    @property
    def last_day(self) -> float:
        """Day of the last administration."""
        return self.days[-1]

    def cells_per_administration(self, weight_kg: float) -> float:
        """Return total cells in one administration for a patient of ``weight_kg``."""
        if self.cells is not None:
            return self.cells
        assert self.cells_per_kg is not None  # noqa: S101 - guaranteed by the validator
        return cells_from_per_kg(self.cells_per_kg, weight_kg)

    def total_cells(self, weight_kg: float) -> float:
        """Return total cells over all administrations for a patient of ``weight_kg``."""
        return self.count * self.cells_per_administration(weight_kg)
