"""Per-patient dose events: the table a problem holds and a one-line builder, ``ev``.

The table has one row per administration, in the spirit of NONMEM and mrgsolve
data sets: ``patient`` (row of the problem, 0-based), ``time_day``,
``amount_cells`` (viable cells), ``route`` and ``duration_day`` (0 for a bolus).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mscsim.engine.events import ResolvedDose
from mscsim.errors import SpecError
from mscsim.models.base import Array
from mscsim.spec.dose import MIN_INFUSION_HOURS
from mscsim.spec.route import Route
from mscsim.units import days_from_hours

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DoseEvents", "EventPlan", "ev"]

ScheduleKey = tuple[tuple[float, Route, float], ...]
"""A patient's dose times, routes and durations: patients with equal keys share a schedule."""


@dataclass(frozen=True, eq=False)
class DoseEvents:
    """A per-patient dose-event table (one row per administration).

    Attributes
    ----------
    patient : ndarray of int64, shape (n_events,)
        Row of the patient in its problem (0-based).
    time_day : ndarray, shape (n_events,)
        Start of the administration (day).
    amount_cells : ndarray, shape (n_events,)
        Viable cells administered.
    route : tuple of Route, length n_events
    duration_day : ndarray, shape (n_events,)
        Infusion duration (days); 0 for a bolus.

    Rows are kept sorted by patient, then time. Two tables are equal when every
    column is.
    """

    patient: NDArray[np.int64]
    time_day: Array
    amount_cells: Array
    route: tuple[Route, ...]
    duration_day: Array

    def __post_init__(self) -> None:
        n = len(self.route)
        columns = (self.patient, self.time_day, self.amount_cells, self.duration_day)
        if any(np.shape(c) != (n,) for c in columns):
            raise SpecError("events: every column must have one value per event")
        for name, values in (("time_day", self.time_day), ("duration_day", self.duration_day)):
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise SpecError(f"events.{name}: must be finite and >= 0")
        if np.any((self.duration_day > 0) & (self.duration_day < MIN_INFUSION_HOURS / 24)):
            raise SpecError(
                f"events.duration_day: an infusion lasts at least one minute "
                f"({MIN_INFUSION_HOURS / 24:.3g} d); use 0 for a bolus"
            )
        if not np.all(np.isfinite(self.amount_cells)) or np.any(self.amount_cells < 0):
            raise SpecError("events.amount_cells: must be finite and >= 0 viable cells")
        if np.any(self.patient < 0):
            raise SpecError("events.patient: must be >= 0")
        order = np.lexsort((self.time_day, self.patient))
        for name in ("patient", "time_day", "amount_cells", "duration_day"):
            values = np.asarray(getattr(self, name))[order]
            values.flags.writeable = False
            object.__setattr__(self, name, values)
        # One Route per distinct value, not per row (a population has one row per dose).
        routes = {value: Route(value) for value in set(self.route)}
        object.__setattr__(self, "route", tuple(routes[self.route[i]] for i in order.tolist()))

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, float, float, Route | str, float]]) -> DoseEvents:
        """Build a table from ``(patient, time_day, amount_cells, route, duration_day)`` rows."""
        listed = list(rows)
        return cls(
            patient=np.array([r[0] for r in listed], dtype=np.int64),
            time_day=np.array([r[1] for r in listed], dtype=float),
            amount_cells=np.array([r[2] for r in listed], dtype=float),
            route=tuple(Route(r[3]) for r in listed),
            duration_day=np.array([r[4] for r in listed], dtype=float),
        )

    @classmethod
    def shared(cls, doses: Sequence[ResolvedDose], n_patients: int) -> DoseEvents:
        """Give ``n_patients`` patients ``doses`` (viable cells of shape (1,) or (n_patients,))."""
        n = n_patients

        def each(values: list[float]) -> Array:
            return np.repeat(np.array(values, dtype=float), n)

        cells = [np.broadcast_to(np.asarray(d.viable_cells, dtype=float), (n,)) for d in doses]
        return cls(
            patient=np.tile(np.arange(n, dtype=np.int64), len(doses)),
            time_day=each([d.time_day for d in doses]),
            amount_cells=np.concatenate(cells) if doses else np.zeros(0),
            route=tuple(d.route for d in doses for _ in range(n)),
            duration_day=each([d.duration_day for d in doses]),
        )

    def __len__(self) -> int:
        return len(self.route)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DoseEvents):
            return NotImplemented
        return self.route == other.route and all(
            np.array_equal(getattr(self, k), getattr(other, k))
            for k in ("patient", "time_day", "amount_cells", "duration_day")
        )

    __hash__ = None  # type: ignore[assignment]

    def rows_of(self, patient: int) -> NDArray[np.intp]:
        """Return the row positions of ``patient``'s events, in time order."""
        lo, hi = np.searchsorted(self.patient, [patient, patient + 1])
        return np.arange(lo, hi)

    def schedule_key(self, patient: int) -> ScheduleKey:
        """Return ``patient``'s dose times, routes and durations (amounts left out)."""
        return tuple(
            (float(self.time_day[i]), self.route[i], float(self.duration_day[i]))
            for i in self.rows_of(patient)
        )

    def _rows(self, patients: NDArray[np.int64]) -> NDArray[np.intp]:
        """Return ``(len(patients), k)``: each patient's event rows, who must have ``k`` each.

        Raises
        ------
        SpecError
            If the patients have different numbers of events.
        """
        lo = np.searchsorted(self.patient, patients)
        counts = np.searchsorted(self.patient, patients + 1) - lo
        if np.any(counts != counts[0]):
            raise SpecError("events: these patients have different numbers of doses")
        return lo[:, None] + np.arange(int(counts[0]))

    def schedule_groups(self, n_patients: int) -> dict[ScheduleKey, NDArray[np.intp]]:
        """Group patients ``0 .. n_patients - 1`` by dose schedule (times, routes, durations).

        Keys in the order of each group's first patient, as :meth:`schedule_key` gives them;
        patients in order within a group.
        """
        patients = np.arange(n_patients, dtype=np.int64)
        counts = np.bincount(self.patient, minlength=n_patients)[:n_patients]
        codes = {route: j for j, route in enumerate(dict.fromkeys(self.route))}
        route = np.array([codes[r] for r in self.route], dtype=float)
        label = np.empty(n_patients, dtype=np.int64)  # a group number per patient
        n_labels = 0
        for k in np.unique(counts).tolist():
            who = patients[counts == k]
            rows = self._rows(who)
            # one row per patient; the last column keeps a patient without doses a row
            columns = (self.time_day[rows], route[rows], self.duration_day[rows])
            table = np.concatenate([*columns, np.zeros((who.size, 1))], axis=1)
            _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
            label[who] = n_labels + np.asarray(inverse).reshape(-1)
            n_labels += first.size
        firsts = np.unique(label, return_index=True)[1]  # each group's first patient
        order = np.argsort(firsts, kind="stable")
        members = np.argsort(label, kind="stable")
        bounds = np.cumsum(np.bincount(label, minlength=n_labels))
        groups = np.split(members.astype(np.intp), bounds[:-1])
        return {self.schedule_key(int(firsts[g])): groups[g] for g in order.tolist()}

    def doses_for(self, patients: NDArray[np.intp]) -> tuple[ResolvedDose, ...]:
        """Return the doses of ``patients``, who must share one schedule.

        Viable cells have shape (1,) when every patient receives the same amount,
        else (len(patients),).
        """
        rows = self._rows(np.asarray(patients, dtype=np.int64)) if len(patients) else None
        if rows is None or rows.shape[1] == 0:
            return ()
        doses = []
        for j in range(rows.shape[1]):
            first = int(rows[0, j])
            cells = self.amount_cells[rows[:, j]]
            if np.all(cells == cells[0]):
                cells = cells[:1]
            doses.append(
                ResolvedDose(
                    float(self.time_day[first]),
                    self.route[first],
                    np.array(cells, dtype=float),
                    float(self.duration_day[first]),
                )
            )
        return tuple(doses)

    def to_frame(self) -> pd.DataFrame:
        """Return the table (columns as the attributes; ``route`` as text)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "patient": self.patient,
                "time_day": self.time_day,
                "amount_cells": self.amount_cells,
                "route": [r.value for r in self.route],
                "duration_day": self.duration_day,
            }
        )


@dataclass(frozen=True)
class _Line:
    amount_cells: float
    route: Route
    day: float
    every_days: float | None
    count: int
    duration_day: float
    patients: tuple[int, ...] | None

    def times(self) -> Array:
        step = self.every_days or 0.0
        return np.array([self.day + i * step for i in range(self.count)], dtype=np.float64)


@dataclass(frozen=True)
class EventPlan:
    """Dose lines kept compact (:func:`ev`), expanded into a :class:`DoseEvents` table.

    ``a + b`` gives both plans' doses; ``plan.to(0, 2)`` gives its doses to
    patients 0 and 2 only (by default a plan's doses go to every patient).
    """

    lines: tuple[_Line, ...]

    def __add__(self, other: EventPlan) -> EventPlan:
        return EventPlan(self.lines + other.lines)

    def to(self, *patients: int) -> EventPlan:
        """Give this plan's doses to ``patients`` only (rows of the problem)."""
        if not patients or any(p < 0 for p in patients) or len(set(patients)) < len(patients):
            raise SpecError(f"ev(...).to{patients}: give one or more distinct patient rows >= 0")
        return EventPlan(tuple(replace(line, patients=patients) for line in self.lines))

    def table(self, n_patients: int = 1) -> DoseEvents:
        """Expand into the event table of ``n_patients`` patients."""
        rows = []
        for line in self.lines:
            patients = range(n_patients) if line.patients is None else line.patients
            if any(p >= n_patients for p in patients):
                raise SpecError(
                    f"events.patient: {max(patients)} is not one of the {n_patients} patients"
                )
            rows += [
                (p, float(t), line.amount_cells, line.route, line.duration_day)
                for p in patients
                for t in line.times()
            ]
        return DoseEvents.from_rows(rows)


def ev(
    amount_cells: float,
    *,
    route: Route | str,
    day: float = 0.0,
    every_days: float | None = None,
    count: int = 1,
    infusion_hours: float = 0.0,
) -> EventPlan:
    """Return a dose line of ``count`` doses of ``amount_cells`` viable cells (mrgsolve's ``ev``).

    Parameters
    ----------
    amount_cells : float
        Viable cells per administration, >= 0.
    route : Route or str
    day : float
        Day of the first administration, >= 0.
    every_days : float, optional
        Interval between administrations; required when ``count > 1``.
    count : int
        Number of administrations, >= 1.
    infusion_hours : float
        Infusion duration; 0 for a bolus.

    Examples
    --------
    >>> weekly = ev(5e7, route="intramuscular", day=7, every_days=7, count=2)
    >>> (ev(1e8, route="intravenous") + weekly).table().time_day.tolist()
    [0.0, 7.0, 14.0]
    """
    if not (np.isfinite(amount_cells) and amount_cells >= 0):
        raise SpecError(f"ev amount_cells = {amount_cells!r}: must be finite and >= 0")
    if not (np.isfinite(day) and day >= 0):
        raise SpecError(f"ev day = {day!r}: must be >= 0")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SpecError(f"ev count = {count!r}: must be a whole number >= 1")
    if count > 1 and not (every_days is not None and every_days > 0):
        raise SpecError(f"ev every_days = {every_days!r}: must be > 0 when count = {count}")
    if not (np.isfinite(infusion_hours) and infusion_hours >= 0):
        raise SpecError(f"ev infusion_hours = {infusion_hours!r}: must be >= 0")
    try:
        route = Route(route)
    except ValueError as err:
        allowed = ", ".join(r.value for r in Route)
        raise SpecError(f"ev route = {route!r}: must be one of {allowed}") from err
    line = _Line(
        float(amount_cells),
        route,
        float(day),
        every_days,
        count,
        days_from_hours(infusion_hours),
        None,
    )
    return EventPlan((line,))
