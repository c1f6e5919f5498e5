"""Turn resolved doses and output times into the schedule both backends walk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mscsim.errors import SpecError
from mscsim.models.base import Array
from mscsim.spec.route import Route

__all__ = ["ResolvedDose", "Schedule", "build_schedule", "output_times"]

# Times closer than this (days, about 0.1 ms) are the same instant.
TIME_TOL_DAY = 1e-9


@dataclass(frozen=True, slots=True)
class ResolvedDose:
    """One administration with its viable cells resolved per patient.

    Attributes
    ----------
    time_day : float
        Start of the administration.
    route : Route
        Route of administration.
    viable_cells : ndarray, shape (n_patients,) or (1,)
        Viable cells administered.
    duration_day : float
        Infusion duration; 0 for a bolus.
    """

    time_day: float
    route: Route
    viable_cells: Array
    duration_day: float = 0.0


@dataclass(frozen=True, slots=True)
class Schedule:
    """Breakpoints with what happens at each, and the output times.

    ``breakpoints[k]`` is a time at which a bolus is given, an infusion starts or
    ends, or an output is recorded. ``boluses[k]`` lists (route, cells) given at
    breakpoint k; ``infusions[k]`` lists (route, rate per day) active on
    ``[breakpoints[k], breakpoints[k + 1])``; ``output_at[k]`` is the output index
    recorded at breakpoint k (after its boluses), or -1.
    """

    times_day: Array
    breakpoints: Array
    boluses: tuple[tuple[tuple[Route, Array], ...], ...]
    infusions: tuple[tuple[tuple[Route, Array], ...], ...]
    output_at: NDArray[np.int64]
    is_event: NDArray[np.bool_] = field(repr=False)
    infusion_routes: tuple[Route, ...] = field(init=False, repr=False)
    """Routes that are ever infused, in a fixed order (computed once: every step reads it)."""

    def __post_init__(self) -> None:
        seen = {r for step in self.infusions for r, _ in step}
        object.__setattr__(self, "infusion_routes", tuple(r for r in Route if r in seen))

    def infusion_rates(self, k: int, n: int) -> Array:
        """Return the rates infused on ``[breakpoints[k], breakpoints[k + 1])``.

        Shape ``(len(infusion_routes), n)``: one row per route, in that order.
        """
        routes = self.infusion_routes
        rates = np.zeros((len(routes), n))
        for route, rate in self.infusions[k]:
            rates[routes.index(route)] += rate
        return rates

    def take(self, rows: NDArray[np.intp]) -> Schedule:
        """Return the schedule of patients ``rows``: per-patient amounts and rates subset.

        Amounts and rates shared by every patient (shape ``(1,)``) stay shared.
        """

        def part(
            events: tuple[tuple[tuple[Route, Array], ...], ...],
        ) -> tuple[tuple[tuple[Route, Array], ...], ...]:
            return tuple(
                tuple((route, x[rows] if x.shape[0] > 1 else x) for route, x in step)
                for step in events
            )

        return replace(self, boluses=part(self.boluses), infusions=part(self.infusions))

    def starts_transient(self, k: int) -> bool:
        """Whether breakpoint ``k`` gives a bolus or starts, stops or changes an infusion."""
        previous = self.infusions[k - 1] if k else ()
        current = self.infusions[k]
        same = len(current) == len(previous) and all(
            ra == rb and np.array_equal(xa, xb)
            for (ra, xa), (rb, xb) in zip(current, previous, strict=True)
        )
        return bool(self.boluses[k]) or not same


def output_times(horizon_day: float, every_day: float) -> Array:
    """Return ``0, every, 2 every, ...`` up to the horizon (included when on the grid).

    Examples
    --------
    >>> output_times(1.0, 0.25).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    n = int(np.floor(horizon_day / every_day + 1e-9))
    return np.arange(n + 1, dtype=np.float64) * every_day


def _nearest(sorted_values: Array, values: Array) -> NDArray[np.intp]:
    """Return the index of the nearest element of ``sorted_values`` for each value."""
    if sorted_values.size == 1:
        return np.zeros(values.size, dtype=np.intp)
    right = np.clip(np.searchsorted(sorted_values, values), 1, sorted_values.size - 1)
    left = right - 1
    closer_left = values - sorted_values[left] <= sorted_values[right] - values
    return np.where(closer_left, left, right)


def build_schedule(doses: Sequence[ResolvedDose], times_day: ArrayLike) -> Schedule:
    """Merge dose events and output times into a :class:`Schedule`.

    Raises
    ------
    SpecError
        If output times are not increasing from >= 0, or a dose starts before
        day 0 or after the last output time.
    """
    times = np.asarray(times_day, dtype=float)
    if times.ndim != 1 or times.size == 0 or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise SpecError("times_day: must be a non-empty increasing sequence of days >= 0")
    if np.any(np.diff(times) <= TIME_TOL_DAY):
        raise SpecError(
            f"times_day: output times must lie more than {TIME_TOL_DAY:g} day apart "
            "(closer times are one event time)"
        )
    horizon = times[-1]
    edges: list[float] = [float(t) for t in times]
    for d in doses:
        if d.time_day < -TIME_TOL_DAY or d.time_day > horizon + TIME_TOL_DAY:
            raise SpecError(
                f"dose day = {d.time_day:g}: must lie within the simulated days [0, {horizon:g}]"
            )
        edges.append(d.time_day)
        if d.duration_day > 0:
            edges.append(min(d.time_day + d.duration_day, horizon))
    merged: list[float] = []
    for t in sorted(edges):
        if not merged or t - merged[-1] > TIME_TOL_DAY:
            merged.append(t)
    bp = np.asarray(merged)

    def index(t: float) -> int:
        return int(_nearest(bp, np.array([t]))[0])

    boluses: list[list[tuple[Route, Array]]] = [[] for _ in bp]
    infusions: list[list[tuple[Route, Array]]] = [[] for _ in bp]
    is_event = np.zeros(bp.size, dtype=bool)
    for d in doses:
        k = index(d.time_day)
        is_event[k] = True
        if d.duration_day <= 0:
            boluses[k].append((d.route, d.viable_cells))
            continue
        end = index(min(d.time_day + d.duration_day, horizon))
        is_event[end] = True
        rate = d.viable_cells / d.duration_day
        for j in range(k, end):
            infusions[j].append((d.route, rate))
    output_at = np.full(bp.size, -1, dtype=np.int64)
    output_at[_nearest(bp, times)] = np.arange(times.size)
    return Schedule(
        times_day=times,
        breakpoints=bp,
        boluses=tuple(tuple(b) for b in boluses),
        infusions=tuple(tuple(f) for f in infusions),
        output_at=output_at,
        is_event=is_event,
    )
